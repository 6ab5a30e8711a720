"""The check's results as rows: one per claim, the same rows in a GPU run and in the dry run.

:data:`ROWS` fixes the rows (ids, labels, units, targets); :func:`build_rows` fills them from
the sections' results (a section that did not run leaves its rows empty, with the reason), and
:func:`write` writes them as a markdown table and a JSON file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The speed target of docs/quality.md: the preset against the textbook loop at 128 px.
SPEED_TARGET = 3.0
#: Device memory a finished or stopped child run may leave taken (decimal MB, as mem_get_info).
RETURN_TARGET_BYTES = 100 * 10**6


@dataclass(frozen=True)
class RowSpec:
    """One row: ``label`` and ``target`` are formatted with the profile's sizes and budgets."""

    id: str
    section: str
    label: str
    unit: str
    target: str = "reported"


_SYNCS = "≤ 1/{sync_every} (the loss read)"
_RETURNED = "≤ 100 MB"
ROWS: tuple[RowSpec, ...] = (
    RowSpec("img_s_preset", "speed", "img/s, `gpu` preset, {small} px", "img/s"),
    RowSpec("img_s_preset_large", "speed", "img/s, `gpu` preset, {large} px", "img/s"),
    RowSpec("img_s_textbook", "speed", "img/s, textbook loop, {small} px", "img/s"),
    RowSpec("speed_ratio", "speed", "preset / textbook img/s, {small} px", "x", "≥ 3×"),
    RowSpec("peak_preset", "speed", "peak memory, `gpu` preset, {small} px", "GiB"),
    RowSpec("peak_preset_large", "speed", "peak memory, `gpu` preset, {large} px", "GiB"),
    RowSpec("peak_textbook", "speed", "peak memory, textbook loop, {small} px", "GiB"),
    RowSpec("host_syncs", "speed", "host syncs per step, preset, {small} px", "/step", _SYNCS),
    RowSpec("heldout_short", "heldout", "held-out SWD / baseline after {short}, {small} px", "x"),
    RowSpec("heldout_long", "heldout", "held-out SWD / baseline after {long}, {small} px", "x"),
    RowSpec("child_finished", "child", "memory kept after a child run ended", "MB", _RETURNED),
    RowSpec("child_stopped", "child", "memory kept after a child run stopped", "MB", _RETURNED),
)
ROW_IDS = tuple(r.id for r in ROWS)

Cell = tuple[Any, Any, str]  # value, target met (True / False / None: no target), note


# ---------------------------------------------------------------------- values per section
def _speed_cells(s: dict[str, Any]) -> dict[str, Cell]:
    pre, large, book = s["preset"], s["preset_large"], s["textbook"]
    ratio = pre["img_per_s"] / book["img_per_s"]
    per_step = None if pre["syncs"] is None else pre["syncs"] / pre["sync_steps"]
    return {
        "img_s_preset": (pre["img_per_s"], None, _timed(pre, s["precision"])),
        "img_s_preset_large": (large["img_per_s"], None, _timed(large, s["precision"])),
        "img_s_textbook": (book["img_per_s"], None, _timed(book, s["precision"])),
        "speed_ratio": (ratio, ratio >= SPEED_TARGET, f"same run, both {s['precision']}"),
        "peak_preset": (pre["peak_bytes"], None, _params(pre)),
        "peak_preset_large": (large["peak_bytes"], None, _params(large)),
        "peak_textbook": (book["peak_bytes"], None, _params(book)),
        "host_syncs": (
            per_step,
            None if per_step is None else per_step <= 1 / s["sync_every"] + 1e-9,
            _syncs_note(pre),
        ),
    }


def _timed(run: dict[str, Any], precision: str) -> str:
    return f"{precision}, batch {run['batch']}, {run['steps']} steps in {run['seconds']:.1f} s"


def _params(run: dict[str, Any]) -> str:
    note = f"{run['params_m']:.2f} M parameters (G + D)"
    return note if run["peak_bytes"] is not None else f"CPU: no device memory; {note}"


def _syncs_note(run: dict[str, Any]) -> str:
    prof = run["profiled"]
    if isinstance(prof, dict):
        prof = ", ".join(f"{k} ×{v}" for k, v in prof.items()) or "none"
    if run["syncs"] is None:
        return f"{run['sync_steps']} steps profiled ({prof}); CPU: no device to synchronise with"
    sites = ", ".join(f"{k} ×{v}" for k, v in run["sync_sites"].items()) or "none"
    return f"{run['syncs']} in {run['sync_steps']} steps at {sites}; profiler: {prof}"


def _heldout_cells(s: dict[str, Any]) -> dict[str, Cell]:
    return {
        key: (p["ratio"], None, _heldout_note(p))
        for key, p in zip(("heldout_short", "heldout_long"), s["points"])
    }


def _heldout_note(p: dict[str, Any]) -> str:
    score = "none" if p["score"] is None else f"{p['score']:.4g}"
    base = "none" if p["baseline"] is None else f"{p['baseline']:.4g}"
    return (
        f"SWD {score} / baseline {base}; step {p['step']} at {p['train_s']:.0f} s, "
        f"{p['images_per_s']:.0f} img/s with scores and checkpoints"
    )


def _child_cells(s: dict[str, Any]) -> dict[str, Cell]:
    return {f"child_{k}": _child_cell(s[k]) for k in ("finished", "stopped")}


def _child_cell(run: dict[str, Any]) -> Cell:
    how = f"{run['ended']} ({run['status']}) at step {run['step']}, exit code {run['exitcode']}"
    clean = run["ended"] == "Done" and run["exitcode"] == 0
    if run["not_returned"] is None:
        return None, None, f"{how}; CPU: no device memory"
    used = f"{run['used_during'] / 1e6:,.0f} MB used during"
    if run["used_during"] <= RETURN_TARGET_BYTES:  # nothing to return: the check proves nothing
        return run["not_returned"], False, f"{how}; only {used}: did the child use the GPU?"
    met = clean and run["not_returned"] <= RETURN_TARGET_BYTES
    return run["not_returned"], met, f"{how}; {used}"


CELLS: dict[str, Callable[[dict[str, Any]], dict[str, Cell]]] = {
    "speed": _speed_cells,
    "heldout": _heldout_cells,
    "child": _child_cells,
}


# ---------------------------------------------------------------------- rows
def build_rows(
    sections: dict[str, Any], errors: dict[str, str], words: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every row of :data:`ROWS`, filled from ``sections`` (a section's result by name);
    ``errors`` says why a section has none; ``words`` formats labels and targets."""
    cells: dict[str, Cell] = {}
    for name, fill in CELLS.items():
        if name in sections:
            cells.update(fill(sections[name]))
    rows = []
    for spec in ROWS:
        why = errors.get(spec.section, "not run")
        value, met, note = cells.get(spec.id, (None, None, why))
        rows.append(
            {
                "id": spec.id,
                "label": spec.label.format(**words),
                "value": value,
                "unit": spec.unit,
                "target": spec.target.format(**words),
                "met": met,
                "note": note,
            }
        )
    return rows


def format_value(value: Any, unit: str) -> str:
    """``1,234 img/s``, ``3.21×``, ``5.43 GiB``, ``12 MB``, ``0.100``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if unit == "img/s":
        return f"{value:,.0f} img/s" if value >= 100 else f"{value:.1f} img/s"
    if unit == "x":
        return f"{value:.2f}×"
    if unit == "GiB":
        return f"{value / 2**30:.2f} GiB"
    if unit == "MB":
        return f"{value / 1e6:,.0f} MB"
    return f"{value:.3f}"


def verdict(row: dict[str, Any], dry_run: bool) -> str:
    if dry_run:
        return "dry run"
    if row["value"] is None:
        return "not measured"
    if row["met"] is None:
        return "—"
    return "met" if row["met"] else "**NOT met**"


# ---------------------------------------------------------------------- output
def markdown(payload: dict[str, Any]) -> str:
    """The table, its heading (device, torch, precision, commit, date) and the environment."""
    dry, info = payload["dry_run"], payload["environment"]["info"]
    title = "GPU check" + (" — DRY RUN on CPU at tiny sizes: not GPU numbers" if dry else "")
    lines = [
        f"# {title}",
        "",
        f"{info.get('device_name', 'no device')} · torch {info.get('torch')} "
        f"(CUDA {info.get('torch_cuda')}) · precision {info.get('precision')} · "
        f"commit {info.get('git_commit')} · {info.get('date')} · "
        f"wall time {payload['wall_s']:.0f} s · `{payload['command']}`",
        "",
        "| check | value | target | verdict | notes |",
        "|---|---|---|---|---|",
    ]
    for row in payload["rows"]:
        value = format_value(row["value"], row["unit"])
        lines.append(
            f"| {row['label']} | {value} | {row['target']} | {verdict(row, dry)} | {row['note']} |"
        )
    lines += ["", "Environment:", "", "```", *payload["environment"]["lines"], "```", ""]
    return "\n".join(lines)


def write(payload: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``gpu_check.md`` and ``gpu_check.json`` (``gpu_check_dry_run.*`` for a dry run)."""
    stem = "gpu_check_dry_run" if payload["dry_run"] else "gpu_check"
    md, js = out / f"{stem}.md", out / f"{stem}.json"
    md.write_text(markdown(payload))
    js.write_text(json.dumps(payload, indent=1, default=str))
    return md, js
