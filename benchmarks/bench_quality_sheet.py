"""Render chosen quality runs' saved samples large, to look at them side by side.

``python benchmarks/bench_quality_sheet.py OUT.png TAG[@POINT] ...`` draws, for each run, the 8
samples per condition saved at budget point POINT (0 = the first budget; the last when omitted),
one row per condition, at 2x. The report's ``quality_samples.png`` shows only some series; this
shows any run, e.g. ``s10-r1-seed0@2 s8-cpu-seed0@2``.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from bench_quality import RUNS
from PIL import Image, ImageDraw

ZOOM, LABEL_W = 2, 200


def rows_of(spec: str) -> list[tuple[str, np.ndarray]]:
    tag, _, point = spec.partition("@")
    run = json.loads((RUNS / f"{tag}.json").read_text())["runs"][0]
    pt = run["curve"][int(point)] if point else run["curve"][-1]
    samples = pt.get("samples") or run["samples"]
    return [
        (f"{tag} {cond} @{pt['cpu_s']:.0f}s", np.asarray(ims, np.uint8))
        for cond, ims in samples.items()
    ]


def main(out: str, specs: list[str]) -> None:
    rows = [row for spec in specs for row in rows_of(spec)]
    h = 64 * ZOOM
    sheet = Image.new("L", (8 * h + LABEL_W, len(rows) * h), 0)
    draw = ImageDraw.Draw(sheet)
    for r, (label, ims) in enumerate(rows):
        draw.text((2, r * h + 4), label[:30], fill=255)
        draw.text((2, r * h + 20), label[30:], fill=255)
        for k, im in enumerate(ims[:8]):
            tile = Image.fromarray(im).resize((h, h), Image.NEAREST)
            sheet.paste(tile, (LABEL_W + k * h, r * h))
    sheet.save(out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
