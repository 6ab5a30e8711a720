"""The Evaluate widget's results table: control rows and the run's other checkpoint beside the
scored model, with ratios, readable in a narrow dock; the verdict names the controls' verdicts
and the details say which checkpoint was scored and what selected it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import mni_volumes
from napari_medgan.engine import build_dataset, split_dataset
from napari_medgan.engine.metrics import evaluate
from napari_medgan.engine.metrics.realism import c2st_reading, spectrum_reading
from napari_medgan.widgets.evaluate.results import (
    FLAG_COLOUR,
    MetricsTable,
    checkpoint_line,
    extractor_line,
    fmt,
    unrealistic,
    verdict,
)

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def data():
    """A real evaluation on MNI slices (32 px, the default held-out split): noisy held-out slices
    play the generator, uniform noise the untrained one; then the record gets a best/latest pair
    as ``napari-medgan evaluate`` writes it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, held, _ = split_dataset(build_dataset(mni_volumes(), size=32), 0.2, seed=0)
        rng = np.random.default_rng(0)
        h = held.images[:, 0].numpy()
        gen = np.clip(h + rng.normal(0, 0.05, h.shape), -1, 1).astype(np.float32)
        res = evaluate(train.images[:, 0].numpy(), train.labels.numpy(), list(train.sources),
                       gen, held.labels.numpy(), list(train.class_names),
                       heldout=h, heldout_labels=held.labels.numpy(),
                       heldout_groups=list(held.sources),
                       untrained=rng.uniform(-1, 1, h.shape).astype(np.float32),
                       n_boot=20, classifier_steps=20)
    finally:
        torch.set_num_threads(before)
    record = res.to_dict()
    record["checkpoint"] = {"path": "/runs/a/checkpoints/step_0002500", "kind": "best",
                            "which": "best", "step": 2500, "split": None,
                            "selected_on": "lowest held-out SWD during training (optimistic)"}
    verbatim = record["controls"]["verbatim"]
    record["other_checkpoints"] = {"latest": {"step": 6000, "kind": "latest",
                                              "selected_on": "none: the last checkpoint",
                                              "metrics": verbatim["metrics"],
                                              "memorization": verbatim["memorization"]}}
    return res, record


def test_table_shows_controls_and_latest_with_ratios_in_a_narrow_dock(qtbot, data):
    res, record = data
    table = MetricsTable()
    qtbot.addWidget(table)
    table.resize(280, 360)  # a narrow dock
    table.show()
    table.show_metrics(res.metrics, res.flagged, record)
    heads = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert heads[:5] == ["metric", "value", "95 % CI", "real baseline", "ratio"]
    assert heads[5:] == ["verbatim", "untrained", "latest (step 6000)", "better"]
    row = table.row_of("swd")
    v = record["controls"]["verbatim"]["metrics"]["swd"]
    assert table.item(row, table.column_of("verbatim")).text() == (
        f"{fmt(v['value'])} ({v['ratio']:.2f}×)")
    u = record["controls"]["untrained"]["metrics"]["swd"]
    assert u["ratio"] > v["ratio"]  # uniform noise is far worse than real copies
    assert table.item(row, table.column_of("untrained")).text().endswith(f"({u['ratio']:.2f}×)")
    # the SWD value's tooltip names each condition's SWD and its ratio to that condition's baseline
    s = record["metrics"]["swd"]
    tip = table.item(row, 1).toolTip()
    for name in record["class_names"]:
        r = s["per_condition"][name] / s["baseline_per_condition"][name]
        assert f"{name} {fmt(s['per_condition'][name])} ({r:.2f}×)" in tip, tip
    # the coverage row: the real baseline, the ratio and the controls' values (issue 10)
    row = table.row_of("coverage")
    c = record["metrics"]["coverage"]
    assert table.item(row, 3).text() == fmt(c["baseline"])
    assert table.item(row, 4).text() == f"{c['ratio']:.2f}×"
    assert table.item(row, table.column_of("untrained")).text().startswith("0")
    assert "held-out" in table.item(row, 0).toolTip()
    # the swap accuracy has no control value: a dash, not an empty cell
    if table.row_of("swap_accuracy") >= 0:
        assert table.item(table.row_of("swap_accuracy"), table.column_of("verbatim")).text() == "—"
    qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() > 0, timeout=10_000)
    # a plain metrics call (no record) still gives the original six columns
    table.show_metrics(res.metrics, res.flagged)
    assert table.columnCount() == 6


def test_verdict_and_details_name_controls_and_the_scored_checkpoint(data):
    _, record = data
    text, _ = verdict(record)
    assert "controls: verbatim flagged, untrained not flagged" in text
    assert "copied ≈" in text
    line = checkpoint_line(record)
    assert line.startswith("Scored checkpoint: best, step 2500 (selected on: lowest held-out")
    assert "latest checkpoint step 6000 beside it" in line and "FLAGGED" in line
    assert line in extractor_line(record)


def test_realism_rows_show_real_vs_real_and_the_noise_control(qtbot, data):
    res, record = data
    table = MetricsTable()
    qtbot.addWidget(table)
    table.show_metrics(res.metrics, res.flagged, record)
    c, s = record["metrics"]["c2st"], record["metrics"]["spectrum"]
    row = table.row_of("c2st")
    assert row >= 0 and table.item(row, 0).text() == "C2ST"
    assert table.item(row, 3).text() == (
        f"{fmt(c['baseline'])} · noise {fmt(c['sensitivity']['value'])}")
    assert "sensitivity control" in table.item(row, 3).toolTip()
    assert table.item(row, 4).text() == "—"  # no ratio: read against 0.5
    assert table.item(row, table.column_of("better")).text() == "≈ 0.5"
    untrained = record["controls"]["untrained"]["metrics"]
    assert table.item(row, table.column_of("untrained")).text() == fmt(untrained["c2st"]["value"])
    assert untrained["c2st"]["value"] > 0.9  # uniform noise is told apart from real
    tip = table.item(row, 1).toolTip()
    assert c2st_reading(c) in tip and "C2ST per condition: T1 " in tip
    row = table.row_of("spectrum")
    assert table.item(row, table.column_of("better")).text() == "0.75–1.33"
    assert spectrum_reading(s) in table.item(row, 1).toolTip()
    assert untrained["spectrum"]["value"] > 1.33  # white noise: far too much fine detail
    colour = table.item(row, 1).foreground().color().name()
    assert (colour == FLAG_COLOUR) == unrealistic("spectrum", s)
