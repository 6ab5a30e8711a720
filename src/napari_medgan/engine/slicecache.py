"""The prepared slice set on disk: built once, reused while its inputs and settings stay the same.

One folder per preparation, named by a hash of everything that changes the slices: the
preparation settings (size, slice axis, foreground threshold) and, per scan, its name, condition,
split, group, chosen series and the (path, size, mtime) of every file behind it. Any change gives a
new key, so a stale entry is never read. Inside: ``slices.safetensors`` (images, labels, slice
index, scan of each slice) and ``prepared.json`` (class names, intensity transforms, geometry,
scans, groups, splits, skipped scans, the key's inputs). No pickle.

An entry is written into a temporary folder beside its final place and renamed into place only
when complete, so an interrupted or cancelled preparation leaves nothing that could be read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .data import DataError, IntensityTransform, SliceDataset, SliceGeometry
from .prepare import Prepared, ScanSource, prepare_streamed

FORMAT = 1
MANIFEST = "prepared.json"
TENSORS = "slices.safetensors"


def default_cache_dir() -> Path:
    """``$NAPARI_MEDGAN_CACHE`` or the user cache folder (XDG / LOCALAPPDATA / Library)."""
    env = os.environ.get("NAPARI_MEDGAN_CACHE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "napari-medgan" / "prepared"


def cache_key(
    scans: Sequence[ScanSource],
    size: int,
    slice_axis: int,
    min_foreground: float,
    ct_window: tuple[float, float] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The entry's name and the inputs it was derived from (a CT window only when given, so
    entries prepared under the default window keep their names)."""
    settings: dict[str, Any] = {
        "size": int(size),
        "slice_axis": int(slice_axis),
        "min_foreground": float(min_foreground),
    }
    if ct_window is not None:
        settings["ct_window"] = [float(v) for v in ct_window]
    inputs = {
        "format": FORMAT,
        "settings": settings,
        "scans": [s.cache_token() for s in scans],
    }
    blob = json.dumps(inputs, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:24], inputs


def prepare_cached(
    scans: Sequence[ScanSource],
    size: int,
    slice_axis: int = 0,
    min_foreground: float = 0.05,
    cache_dir: str | Path | None = None,
    ct_window: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Prepared:
    """Load the prepared set from the cache, or prepare it (streamed) and store it.

    ``kwargs`` go to :func:`~napari_medgan.engine.prepare.prepare_streamed` (workers, progress,
    cancel). ``cache_dir=None`` uses :func:`default_cache_dir`. ``ct_window`` is the HU window
    of CT scans without their own (part of the cache key: another window prepares again).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        key, inputs = cache_key(scans, size, slice_axis, min_foreground, ct_window)
    except OSError as exc:  # a scan vanished since discovery
        raise DataError(f"cannot identify the cohort's files ({exc})") from None
    entry = root / key
    if (entry / MANIFEST).is_file():
        try:
            prepared = load_entry(entry)
        except (OSError, ValueError, KeyError) as exc:  # damaged entry: rebuild it
            print(f"napari-medgan: rebuilding damaged cache entry {entry} ({exc})", file=sys.stderr)
        else:
            progress = kwargs.get("progress")
            if progress is not None:
                progress(len(scans), len(scans), "loaded from cache")
            return prepared
    prepared = prepare_streamed(
        scans, size, slice_axis, min_foreground, ct_window=ct_window, **kwargs
    )
    try:
        save_entry(entry, prepared, inputs)
        prepared.cache_path = str(entry)
    except OSError as exc:  # a full or read-only disk must not stop training
        print(f"napari-medgan: could not cache prepared slices ({exc})", file=sys.stderr)
    return prepared


def save_entry(entry: Path, prepared: Prepared, inputs: dict[str, Any]) -> None:
    """Write ``prepared`` atomically as ``entry`` (a temporary folder renamed into place)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        ds = prepared.dataset
        save_file(
            {
                "images": ds.images.contiguous(),
                "labels": ds.labels.contiguous(),
                "slice_index": torch.as_tensor(prepared.slice_index, dtype=torch.int64),
                "scan": torch.as_tensor(prepared.scan_of_slice, dtype=torch.int64),
            },
            str(tmp / TENSORS),
        )
        meta = {
            "format": FORMAT,
            "class_names": ds.class_names,
            "conditional": ds.conditional,
            "transforms": {k: t.to_dict() for k, t in ds.transforms.items()},
            "geometry": {k: g.to_dict() for k, g in ds.geometry.items()},
            "scans": prepared.scans,
            "groups": prepared.groups,
            "splits": prepared.splits,
            "skipped": [list(s) for s in prepared.skipped],
            "inputs": inputs,
        }
        (tmp / MANIFEST).write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:
            if not (entry / MANIFEST).is_file():  # not a concurrent writer's finished entry
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_entry(entry: Path) -> Prepared:
    """Read a cache entry written by :func:`save_entry`."""
    meta = json.loads((entry / MANIFEST).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"cache format {meta.get('format')} is not {FORMAT}")
    t = load_file(str(entry / TENSORS))
    scan_of = t["scan"].numpy()
    scans = list(meta["scans"])
    groups = list(meta["groups"])
    dataset = SliceDataset(
        images=t["images"],
        labels=t["labels"],
        class_names=list(meta["class_names"]),
        transforms={k: IntensityTransform.from_dict(v) for k, v in meta["transforms"].items()},
        geometry={k: SliceGeometry.from_dict(v) for k, v in meta["geometry"].items()},
        conditional=bool(meta["conditional"]),
        sources=[scans[k] for k in scan_of],
        slice_index=t["slice_index"],
        groups=[groups[k] for k in scan_of],
    )
    return Prepared(
        dataset=dataset,
        scans=scans,
        scan_of_slice=np.asarray(scan_of),
        slice_index=t["slice_index"].numpy(),
        groups=groups,
        splits=list(meta["splits"]),
        skipped=[tuple(s) for s in meta.get("skipped", [])],
        from_cache=True,
        cache_path=str(entry),
    )
