"""The GPU check (``benchmarks/gpu_check.py``) rehearsed on the CPU: its ``--dry-run`` runs every
section at tiny sizes and writes every row, so a typo cannot wait for a rare GPU lease."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
#: The rows of benchmarks/gpu/table.py, written out here so that a row lost there fails.
ROWS = (
    "img_s_preset",
    "img_s_preset_large",
    "img_s_textbook",
    "speed_ratio",
    "peak_preset",
    "peak_preset_large",
    "peak_textbook",
    "host_syncs",
    "heldout_short",
    "heldout_long",
    "child_finished",
    "child_stopped",
)
#: Rows with a number on a CPU; the others need a CUDA device and say so.
MEASURED_ON_CPU = (
    "img_s_preset",
    "img_s_preset_large",
    "img_s_textbook",
    "speed_ratio",
    "heldout_short",
    "heldout_long",
)

pytestmark = pytest.mark.slow


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One dry run for the module: (completed process, its JSON payload, its markdown)."""
    out = tmp_path_factory.mktemp("gpu_check")
    done = _run("--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    payload = json.loads((out / "gpu_check_dry_run.json").read_text())
    return done, payload, (out / "gpu_check_dry_run.md").read_text()


def test_every_section_ran_and_is_marked_dry(dry_run):
    done, payload, _ = dry_run
    assert payload["dry_run"] is True
    assert payload["errors"] == {}, payload["tracebacks"]
    assert set(payload["sections"]) == {"speed", "child", "heldout"}
    assert payload["environment"]["problems"] == []
    assert "DRY RUN" in done.stdout


def test_json_has_every_row_with_a_value_or_a_reason(dry_run):
    _, payload, _ = dry_run
    rows = {row["id"]: row for row in payload["rows"]}
    assert tuple(rows) == ROWS
    for key, row in rows.items():
        assert row["label"] and row["target"] and row["note"], row
        if key in MEASURED_ON_CPU:
            assert isinstance(row["value"], float) and math.isfinite(row["value"]), row
            assert row["value"] > 0, row
        else:
            assert row["value"] is None and "CPU" in row["note"], row


def test_markdown_has_every_row(dry_run):
    _, payload, text = dry_run
    assert text.startswith("# GPU check — DRY RUN")
    lines = text.splitlines()
    for row in payload["rows"]:
        line = next((x for x in lines if x.startswith(f"| {row['label']} |")), None)
        assert line is not None, f"row {row['id']} missing from the table"
        assert "| dry run |" in line


def test_child_runs_end_the_way_they_were_asked_to(dry_run):
    _, payload, _ = dry_run
    child = payload["sections"]["child"]
    assert (child["finished"]["ended"], child["finished"]["status"]) == ("Done", "finished")
    assert (child["stopped"]["ended"], child["stopped"]["status"]) == ("Done", "stopped")
    assert child["stopped"]["stop_requested"] and child["finished"]["exitcode"] == 0


def test_held_out_points_follow_the_budgets(dry_run):
    _, payload, _ = dry_run
    short, long = payload["sections"]["heldout"]["points"]
    assert short["train_s"] >= short["budget_s"] and short["status"] == "running"
    assert long["status"] == "finished" and long["step"] >= short["step"]


def test_a_missing_gpu_is_said_before_anything_is_measured(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    done = _run("--out", str(tmp_path), "--sections", "speed", timeout=120)
    assert done.returncode == 2
    assert "MISSING  device: no CUDA device" in done.stdout
    payload = json.loads((tmp_path / "gpu_check.json").read_text())
    assert [r["id"] for r in payload["rows"]] == list(ROWS)
    assert all("environment incomplete" in r["note"] for r in payload["rows"])


# ---------------------------------------------------------------------- the parts only a GPU runs
@pytest.fixture
def gpu_modules(monkeypatch):
    """``benchmarks/gpu``'s measure and table modules, imported as the script imports them."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import gpu.measure
    import gpu.table

    return gpu


def test_host_syncs_are_counted_from_the_debug_mode_warnings(monkeypatch, gpu_modules):
    import warnings

    import torch

    measure = gpu_modules.measure
    modes = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    monkeypatch.setattr(measure, "synchronize", lambda device: None)
    monkeypatch.setattr(measure, "_profiled_syncs", lambda runner, steps, device: {})

    class Runner:  # a synchronising read every 10 steps, and an unrelated warning every step
        steps = 0

        def step(self):
            self.steps += 1
            warnings.warn("something else", UserWarning, stacklevel=1)
            if self.steps % 10 == 0:
                warnings.warn("called a synchronizing CUDA operation", UserWarning, stacklevel=1)

    out = measure.count_host_syncs(Runner(), 20, torch.device("cuda"))
    assert modes == ["warn", "default"]
    assert out["syncs"] == 2 and sum(out["sync_sites"].values()) == 2


def _gpu_like_sections() -> dict:
    def run(img_per_s, gib):
        return dict(img_per_s=img_per_s, batch=64, steps=100, seconds=15.0, params_m=10.0,
                    peak_bytes=gib * 2**30)  # fmt: skip

    def child(kept_mb):
        return dict(ended="Done", status="finished", step=200, exitcode=0,
                    not_returned=kept_mb * 10**6, used_during=2 * 10**9)  # fmt: skip

    syncs = dict(sync_steps=40, syncs=4, sync_sites={"trainer.py:1": 4}, profiled={})
    speed = dict(precision="bf16", sync_every=10, textbook=run(1000.0, 1),
                 preset={**run(3500.0, 3), **syncs}, preset_large=run(900.0, 5))  # fmt: skip
    return {"speed": speed, "child": {"finished": child(1), "stopped": child(300)}}


def test_gpu_results_are_judged_against_the_targets(gpu_modules):
    table = gpu_modules.table
    words = dict(small=128, large=256, short="2 min", long="4 min", sync_every=10)
    rows = table.build_rows(_gpu_like_sections(), {"heldout": "failed: boom"}, words)
    by_id = {r["id"]: r for r in rows}
    assert tuple(by_id) == ROWS
    assert by_id["speed_ratio"]["value"] == 3.5 and by_id["speed_ratio"]["met"] is True
    assert by_id["host_syncs"]["value"] == 0.1 and by_id["host_syncs"]["met"] is True
    assert by_id["child_finished"]["met"] is True and by_id["child_stopped"]["met"] is False
    held = by_id["heldout_short"]
    assert held["value"] is None and held["note"] == "failed: boom"
    payload = dict(dry_run=False, rows=rows, wall_s=400.0, command="python benchmarks/gpu_check.py",
                   environment={"info": {"device_name": "NVIDIA H100"}, "lines": []})  # fmt: skip
    text = table.markdown(payload)
    assert text.startswith("# GPU check\n") and "NVIDIA H100" in text
    assert "| preset / textbook img/s, 128 px | 3.50× | ≥ 3× | met |" in text
    assert "| peak memory, `gpu` preset, 256 px | 5.00 GiB |" in text
    assert "| memory kept after a child run stopped | 300 MB | ≤ 100 MB | **NOT met** |" in text
    assert "| held-out SWD / baseline after 2 min, 128 px | n/a | reported | not measured |" in text
