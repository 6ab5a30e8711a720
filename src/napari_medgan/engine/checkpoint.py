"""Checkpoints as a folder of safetensors + JSON: no pickle, atomic writes, exact resume.

Layout of a run folder::

    RUN/
      latest                      name of the newest complete checkpoint (atomically replaced)
      best                        name of the checkpoint with the best held-out score so far
                                  (written when that score is reached; never pruned)
      checkpoints/step_000500/
        model.safetensors         G, G_ema and D weights and buffers
        train_state.safetensors   optimiser moments, RNG state
        state.json                step, config, classes, intensity transforms, geometry, ...

A checkpoint folder is written under a temporary name and renamed into place, then ``latest`` is
replaced; a crash at any point leaves the previous checkpoint loadable. :func:`resolve` turns a
run folder into a checkpoint: ``prefer="best"`` (sampling, evaluation) follows ``best`` when the
run has one, ``prefer="latest"`` (resuming) follows ``latest``. Loading refuses any file
that is not one of the three above, so a pickle dropped into the folder can never be run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.safetensors"
JSON_FILE = "state.json"
ALLOWED = {MODEL_FILE, STATE_FILE, JSON_FILE}
LATEST = "latest"
BEST = "best"
PREFER = (LATEST, BEST)
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")


class CheckpointError(ValueError):
    """A checkpoint is missing, unsafe, corrupt or does not fit; the message says which."""


@dataclass
class Checkpoint:
    """Everything a checkpoint holds, in memory."""

    step: int
    config: dict[str, Any]
    meta: dict[str, Any]
    models: dict[str, dict[str, torch.Tensor]]  # "G", "G_ema", "D" -> state dicts
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)  # "G", "D"
    rng_state: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    run_dir: str | Path, ckpt: Checkpoint, keep: int = 2, best: bool = False
) -> Path:
    """Write ``ckpt`` atomically under ``run_dir/checkpoints`` and point ``latest`` at it.

    With ``best=True`` the ``best`` pointer names it too. Pruning keeps the ``keep`` newest
    checkpoints plus the one ``best`` names.

    Returns
    -------
    Path
        The checkpoint folder.
    """
    run_dir = Path(run_dir)
    parent = run_dir / "checkpoints"
    parent.mkdir(parents=True, exist_ok=True)
    name = f"step_{ckpt.step:07d}"
    final = parent / name
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    try:
        tensors: dict[str, torch.Tensor] = {}
        for net, sd in ckpt.models.items():
            tensors.update({f"{net}.{k}": v for k, v in sd.items()})
        _save_tensors(tensors, tmp / MODEL_FILE)
        state_tensors, opt_json = _flatten_optimizers(ckpt.optimizers)
        if ckpt.rng_state is not None:
            state_tensors["rng"] = ckpt.rng_state
        _save_tensors(state_tensors, tmp / STATE_FILE)
        doc = {
            "format_version": FORMAT_VERSION,
            "step": ckpt.step,
            "config": ckpt.config,
            "meta": ckpt.meta,
            "optimizers": opt_json,
            "extra": ckpt.extra,
        }
        _write_text(tmp / JSON_FILE, json.dumps(doc, indent=2))
        if final.exists():
            old = parent / f".old-{name}-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_text(run_dir / LATEST, name + "\n")
    if best:
        mark_best(run_dir, final)
    _prune(parent, keep, protect={name, _pointer(run_dir, BEST)})
    return final


def mark_best(run_dir: str | Path, checkpoint: str | Path) -> None:
    """Point the run's ``best`` file at ``checkpoint`` (a folder under ``run_dir/checkpoints``)."""
    run_dir, folder = Path(run_dir), Path(checkpoint)
    if folder.parent.resolve() != (run_dir / "checkpoints").resolve():
        raise CheckpointError(f"{folder}: not a checkpoint of the run {run_dir}")
    if not (folder / JSON_FILE).exists():
        raise CheckpointError(f"{folder}: no checkpoint there to mark as best")
    _write_text(run_dir / BEST, folder.name + "\n")


def resolve(path: str | Path, prefer: str = LATEST) -> Path:
    """The checkpoint folder for a run folder or a checkpoint folder itself.

    Parameters
    ----------
    path : path
        A run folder or one checkpoint folder (returned as it is).
    prefer : str
        For a run folder: ``"latest"`` (the newest, for resuming) or ``"best"`` (the best
        held-out score, for sampling and evaluation; the newest when the run has no ``best``).
    """
    if prefer not in PREFER:
        raise CheckpointError(f"prefer must be one of {', '.join(PREFER)} (got {prefer!r})")
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint folder")
    if path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint folder, got a file")
    if (path / JSON_FILE).exists():
        return path
    order = (BEST, LATEST) if prefer == BEST else (LATEST,)
    for pointer in order:
        name = _pointer(path, pointer)
        if name is None:
            continue
        target = path / "checkpoints" / name
        if (target / JSON_FILE).exists():
            return target
        raise CheckpointError(f"{path}: '{pointer}' names {name}, which is missing")
    steps = sorted((path / "checkpoints").glob("step_*")) if (path / "checkpoints").is_dir() else []
    if steps:
        return steps[-1]
    raise CheckpointError(f"{path}: not a napari-medgan checkpoint (no {JSON_FILE} or {LATEST})")


def load_checkpoint(
    path: str | Path, with_training_state: bool = True, prefer: str = LATEST
) -> Checkpoint:
    """Load a checkpoint folder, refusing anything but our files.

    A run folder gives its ``latest`` checkpoint, or its ``best`` with ``prefer="best"``.
    """
    folder = resolve(path, prefer)
    _refuse_unknown_files(folder)
    try:
        doc = json.loads((folder / JSON_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder / JSON_FILE}: unreadable ({exc})") from None
    if doc.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder}: checkpoint format {doc.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION})"
        )
    flat = _load_tensors(folder / MODEL_FILE)
    models: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        net, _, name = key.partition(".")
        models.setdefault(net, {})[name] = value
    optimizers: dict[str, dict[str, Any]] = {}
    rng = None
    if with_training_state and (folder / STATE_FILE).exists():
        state = _load_tensors(folder / STATE_FILE)
        rng = state.pop("rng", None)
        optimizers = _unflatten_optimizers(state, doc.get("optimizers", {}))
    return Checkpoint(
        step=int(doc["step"]),
        config=doc["config"],
        meta=doc["meta"],
        models=models,
        optimizers=optimizers,
        rng_state=rng,
        extra=doc.get("extra", {}),
        path=folder,
    )


def _refuse_unknown_files(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name not in ALLOWED:
            raise CheckpointError(
                f"{entry}: unexpected file in checkpoint; refusing to load (checkpoints hold only "
                f"{', '.join(sorted(ALLOWED))}; pickled files could run code)"
            )
    for name in (MODEL_FILE, JSON_FILE):
        if not (folder / name).exists():
            raise CheckpointError(f"{folder}: incomplete checkpoint, {name} is missing")


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(PICKLE_MAGIC):
        raise CheckpointError(
            f"{path}: is a pickle/zip file, not safetensors; refusing to load it "
            "(unpickling can run code)"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(path))
    _fsync(path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pointer(run_dir: Path, pointer: str) -> str | None:
    """The checkpoint name a pointer file holds, or None without one."""
    try:
        return (run_dir / pointer).read_text().strip() or None
    except FileNotFoundError:
        return None


def _prune(parent: Path, keep: int, protect: set[str | None]) -> None:
    steps = sorted(p for p in parent.glob("step_*") if p.is_dir())
    for old in steps[:-keep]:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)


def _flatten_optimizers(
    optimizers: dict[str, dict[str, Any]],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split optimiser state dicts into tensors (safetensors) and plain values (JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    doc: dict[str, Any] = {}
    for net, sd in optimizers.items():
        scalars: dict[str, dict[str, Any]] = {}
        for idx, pstate in sd["state"].items():
            for key, value in pstate.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"opt.{net}.{idx}.{key}"] = value
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        doc[net] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, doc


def _unflatten_optimizers(
    tensors: dict[str, torch.Tensor], doc: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for net, info in doc.items():
        state: dict[int, dict[str, Any]] = {}
        for idx, values in info.get("scalars", {}).items():
            state.setdefault(int(idx), {}).update(values)
        out[net] = {"state": state, "param_groups": info["param_groups"]}
    for key, value in tensors.items():
        _, net, idx, name = key.split(".", 3)
        if net not in out:
            raise CheckpointError(f"optimiser state for {net!r} has no parameter groups")
        out[net]["state"].setdefault(int(idx), {})[name] = value
    return out
