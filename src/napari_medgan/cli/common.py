"""Shared CLI pieces: one-line errors, reading inputs into engine volumes, safe outputs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from napari_medgan.engine import (
    CheckpointError,
    ConfigError,
    DataError,
    SamplingError,
    TrainingError,
    Volume,
)
from napari_medgan.engine.families import FamilyError
from napari_medgan.io import ReadError, WriteError


class CLIError(ValueError):
    """A bad argument or input; printed as one line, exit status 2."""


EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    CLIError,
    ConfigError,
    DataError,
    CheckpointError,
    FamilyError,
    SamplingError,
    TrainingError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ReadError,
    WriteError,
)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def fail(message: str, status: int = 2) -> int:
    """Print ``napari-medgan: error: message`` as one line and return ``status``."""
    sys.stderr.write(f"napari-medgan: error: {' '.join(str(message).split())}\n")
    return status


def load_volumes(paths: list[str], conditions: list[str] | None) -> list[Volume]:
    """Read NIfTI / DICOM / NRRD inputs into engine volumes, one condition name per input.

    A DICOM folder holding several series gives one volume per series, all with the input's
    condition. Raises :class:`CLIError` on a count mismatch or an unreadable input.
    """
    from napari_medgan.io import read_image

    if conditions and len(conditions) != len(paths):
        raise CLIError(
            f"give one --condition per input ({len(paths)} inputs, {len(conditions)} conditions) "
            "or none for an unconditional GAN"
        )
    volumes = []
    for i, path in enumerate(paths):
        if not Path(path).exists():
            raise CLIError(f"{path}: no such file or folder")
        for image in read_image(path):
            data = image.data
            if data.ndim == 4:  # a time series: every frame is a volume of the same condition
                raise CLIError(f"{path}: 4D (time series) input; extract one volume first")
            volumes.append(
                Volume(
                    data=data,
                    spacing=tuple(image.spacing),
                    condition=conditions[i] if conditions else None,
                    modality=image.modality,
                    name=image.name,
                    origin=tuple(image.origin),
                )
            )
    return volumes


def check_new_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    """Validate an output file path before any work: right suffix, parent exists, not present."""
    path = Path(path)
    if not any(str(path).lower().endswith(s) for s in suffixes):
        raise CLIError(f"{path}: output must end in {' or '.join(suffixes)}")
    if path.exists():
        raise CLIError(f"{path}: already exists; choose another name (nothing is overwritten)")
    if not path.parent.exists():
        raise CLIError(f"{path.parent}: output folder does not exist")
    if not os.access(path.parent, os.W_OK):
        raise CLIError(f"{path.parent}: output folder is not writable")
    return path


def positive_int(text: str) -> int:
    """argparse type for counts."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
