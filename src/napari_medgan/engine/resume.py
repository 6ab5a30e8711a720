"""Resuming is continuing the same run: settings, data and intensity maps come from the checkpoint.

The CLI, the Train widget and the :class:`~napari_medgan.engine.Trainer` itself use these checks,
so no entry point can continue "the same" run with another loss, learning rate, slice axis or
data, nor re-fit the intensity windows that the generator's outputs are mapped back through.

Only the knobs in :data:`ALLOWED_CHANGES` may differ between a checkpoint and the settings of
its continuation: the number of steps and the time budget (to train longer), how often
previews, held-out scores and checkpoints are made and kept, the device, and the run folder.
None of them changes what the networks learn.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import JSON_FILE, CheckpointError, resolve
from .config import ConfigError, TrainConfig
from .data import IntensityTransform, SliceDataset
from .settings import SETTINGS

#: The settings declared ``resume_changeable`` (``engine.settings``): steps, the time budget,
#: the preview / checkpoint / score / keep intervals (the held-out split itself is kept), the
#: device, compiling (how the same networks are executed) and the run folder.
ALLOWED_CHANGES = frozenset(s.name for s in SETTINGS if s.resume_changeable)
TOLERANCE = 1e-3  # on per-scan mean / std of the normalised slices (range [-1, 1])
log = logging.getLogger(__name__)


class ResumeError(CheckpointError):
    """A resume would not continue the same run; the message names the difference."""


@dataclasses.dataclass
class SavedRun:
    """What a checkpoint says about its run, read from its ``state.json`` only (cheap)."""

    path: Path
    step: int
    config: TrainConfig
    meta: dict[str, Any]
    extra: dict[str, Any]

    @property
    def transforms(self) -> dict[str, IntensityTransform]:
        """The intensity map of each condition, as trained."""
        return checkpoint_transforms(self.meta)


def read_run(path: str | Path) -> SavedRun:
    """Read the settings of a run folder (its ``latest``) or checkpoint folder.

    Raises
    ------
    CheckpointError
        When there is no checkpoint, or its ``state.json`` is unreadable.
    """
    folder = resolve(path)
    try:
        doc = json.loads((folder / JSON_FILE).read_text())
        config = TrainConfig.from_dict(doc["config"])
        return SavedRun(
            path=folder,
            step=int(doc["step"]),
            config=config,
            meta=doc.get("meta", {}),
            extra=doc.get("extra", {}),
        )
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{folder / JSON_FILE}: unreadable ({exc})") from None


def checkpoint_transforms(meta: dict[str, Any]) -> dict[str, IntensityTransform]:
    """The stored intensity transforms of a checkpoint's ``meta``, one per condition."""
    return {k: IntensityTransform.from_dict(v) for k, v in meta.get("transforms", {}).items()}


def resume_transforms(path: str | Path | None) -> dict[str, IntensityTransform] | None:
    """The intensity transforms to build a resumed run's dataset with (None: a new run)."""
    return None if path is None else read_run(path).transforms


# ---------------------------------------------------------------------- settings
def config_differences(
    saved: TrainConfig | dict[str, Any],
    settings: TrainConfig,
    allowed: frozenset[str] = ALLOWED_CHANGES,
) -> list[str]:
    """Human-readable differences between a checkpoint's settings and new ones.

    Returns
    -------
    list of str
        e.g. ``"loss is hinge in the checkpoint, nonsaturating in the settings"``; empty when
        only ``allowed`` settings differ.
    """
    if isinstance(saved, dict):
        saved = TrainConfig.from_dict(saved)
    old, new = saved.to_dict(), settings.to_dict()
    out = []
    for name in old:  # dataclass field order: the order users see in --help and the form
        if name in allowed or _same(old[name], new.get(name)):
            continue
        out.append(
            f"{name} is {_show(old[name])} in the checkpoint, {_show(new[name])} in the settings"
        )
    return out


def check_config(saved: TrainConfig | dict[str, Any], settings: TrainConfig) -> None:
    """Raise :class:`ResumeError` naming every setting that may not change on resume."""
    diffs = config_differences(saved, settings)
    if diffs:
        raise ResumeError(
            "cannot resume: "
            + "; ".join(diffs)
            + ". Only "
            + ", ".join(sorted(ALLOWED_CHANGES))
            + " may change when continuing a run; choose a new run folder to train with other "
            "settings"
        )


def check_steps(step: int, settings: TrainConfig) -> None:
    """Raise :class:`ResumeError` when the checkpoint has already done ``settings.steps``."""
    if step >= settings.steps:
        raise ResumeError(f"the checkpoint is at step {step}; set more steps than that to continue")


# ---------------------------------------------------------------------- data
def inputs_fingerprint(dataset: SliceDataset) -> dict[str, Any]:
    """A name-free summary of the training inputs, stored in checkpoints.

    Per condition: each scan's slice count and the mean / std of its normalised slices, sorted
    (so neither layer names nor the order of inputs matter, but a different scan does).
    """
    images = dataset.images.reshape(len(dataset), -1).double()
    labels = dataset.labels.numpy()
    sources = np.asarray(dataset.sources if dataset.sources else ["?"] * len(dataset))
    per_class: dict[str, list[list[float]]] = {}
    for index, name in enumerate(dataset.class_names):
        rows = []
        for src in dict.fromkeys(sources[labels == index]):
            sel = (labels == index) & (sources == src)
            x = images[np.flatnonzero(sel)]
            rows.append([int(sel.sum()), round(float(x.mean()), 6), round(float(x.std()), 6)])
        per_class[name] = sorted(rows)
    return {
        "class_names": list(dataset.class_names),
        "conditional": bool(dataset.conditional),
        "scans": per_class,
    }


def input_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """How two :func:`inputs_fingerprint` results differ, in words (empty: same inputs)."""
    if saved.get("conditional") != current.get("conditional"):
        kind = {True: "conditional", False: "unconditional"}
        return [
            f"the checkpoint is {kind.get(saved.get('conditional'), '?')}, the data "
            f"{kind.get(current.get('conditional'), '?')}"
        ]
    old_names, new_names = saved.get("class_names", []), current.get("class_names", [])
    if old_names != new_names:
        return [
            f"conditions are {_names(old_names)} in the checkpoint, {_names(new_names)} in "
            "the data (their order sets the class index)"
        ]
    out = []
    for name in old_names:
        old, new = saved["scans"].get(name, []), current["scans"].get(name, [])
        if len(old) == len(new) and all(
            a[0] == b[0] and abs(a[1] - b[1]) <= TOLERANCE and abs(a[2] - b[2]) <= TOLERANCE
            for a, b in zip(old, new)
        ):
            continue
        out.append(
            f"condition {name!r} was trained on {_scans(old)}, the data give {_scans(new)}"
            + (" with other content" if _counts(old) == _counts(new) else "")
        )
    return out


def check_inputs(
    saved_meta: dict[str, Any],
    saved_extra: dict[str, Any],
    dataset: SliceDataset,
    current: dict[str, Any] | None = None,
) -> None:
    """Raise :class:`ResumeError` when ``dataset`` is not what the checkpoint was trained on.

    Also refuses intensity transforms that differ from the stored ones (build the dataset with
    ``transforms=`` :func:`checkpoint_transforms` to reuse them).
    """
    current = current or inputs_fingerprint(dataset)
    saved = saved_extra.get("inputs")
    if saved is None:  # checkpoints written before fingerprints: condition names only
        saved = {
            "class_names": saved_meta.get("class_names"),
            "conditional": saved_meta.get("conditional"),
            "scans": {},
        }
        log.info("checkpoint predates input fingerprints; only the conditions are compared")
        diffs = input_differences(saved, {**current, "scans": {}})
    else:
        diffs = input_differences(saved, current)
    if diffs:
        raise ResumeError(
            "cannot resume with other data: "
            + "; ".join(diffs)
            + ". Resume with the run's own inputs, or choose a new run folder"
        )
    stored = checkpoint_transforms(saved_meta)
    for name, t in dataset.transforms.items():
        s = stored.get(name)
        if s is not None and not (np.isclose(s.low, t.low) and np.isclose(s.high, t.high)):
            raise ResumeError(
                f"cannot resume: the intensity window of {name!r} is {s.low:g}..{s.high:g} in "
                f"the checkpoint, {t.low:g}..{t.high:g} in the data; build the dataset with the "
                "checkpoint's transforms"
            )


# ---------------------------------------------------------------------- helpers
def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0.0))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _names(names: list[str] | None) -> str:
    return ", ".join(names or []) or "none"


def _counts(rows: list[list[float]]) -> list[int]:
    return sorted(int(r[0]) for r in rows)


def _scans(rows: list[list[float]]) -> str:
    n = len(rows)
    slices = sum(int(r[0]) for r in rows)
    return f"{n} scan{'s' if n != 1 else ''} ({slices} slices)"


def resume_label_values(path: str | Path | None) -> list[int] | None:
    """The label values of a resumed ``mask2image`` run (None: a new run or another family)."""
    if path is None:
        return None
    roles = read_run(path).meta.get("roles") or {}
    values = roles.get("labels", {}).get("values")
    return None if values is None else [int(v) for v in str(values).split(",") if v.strip()]
