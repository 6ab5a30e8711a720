"""SWD per condition on real MNI152 slices: one condition's failure shows in that condition's
ratio, which the pooled SWD dilutes over the three conditions; the others stay at the level of
the verbatim training slices."""

from __future__ import annotations

import numpy as np
from test_metrics_mni import untrained_samples

from napari_medgan.engine.metrics import prepare_reference, score
from napari_medgan.engine.metrics.report import per_condition_line

NAMES = ("T1", "GM", "WM")


def _ratios(m: dict) -> dict[str, float]:
    per, base = m["per_condition"], m["baseline_per_condition"]
    return {name: per[name] / base[name] for name in per}


def test_one_broken_condition_shows_in_its_own_swd_ratio(mni_slabs):
    ref, t, tl = mni_slabs["ref"], mni_slabs["t"], mni_slabs["tl"]
    verbatim = score(ref, t, tl, controls=False).metrics["swd"]
    broken = t.copy()
    broken[tl == 1] = untrained_samples(3, tl)[tl == 1]  # GM from an untrained generator
    m = score(ref, broken, tl, controls=False).metrics["swd"]

    assert set(m["per_condition"]) == set(NAMES) == set(m["baseline_per_condition"])
    rv, rb = _ratios(verbatim), _ratios(m)
    for name in NAMES:  # verbatim training slices: every condition near its real baseline
        assert 0.6 < rv[name] < 1.6, (name, rv)
    assert rb["GM"] > 4 * max(rb["T1"], rb["WM"]), rb
    assert rb["GM"] > 4 * rv["GM"], (rb, rv)
    for name in ("T1", "WM"):  # the intact conditions keep the verbatim control's ratio
        assert abs(rb[name] - rv[name]) < 0.05 * rv[name] + 1e-9, (name, rb, rv)
    # pooled over conditions the failure is diluted: GM's own ratio is larger
    assert rb["GM"] > m["ratio"] > verbatim["ratio"]

    line = per_condition_line(m)
    assert line.startswith("SWD per condition: T1 ") and f"({rb['GM']:.2f}×)" in line
    assert per_condition_line({"value": 1.0}) == ""


def test_unconditional_reference_has_no_per_condition_swd(mni_slabs):
    t = mni_slabs["t"]
    one = prepare_reference(t[::2], None, None, heldout=t[1::2], n_boot=0, seed=0,
                            classifier_steps=1)  # n_boot = 0: no intervals, no crash
    m = score(one, t[::3], None, controls=False).metrics["swd"]
    assert "per_condition" not in m and np.isfinite(m["value"]) and m["ci"] is None
