"""npe2 reader and writer contributions (thin shells over the format modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .dicom import dicom_files_in, is_dicom_file
from .dicom_write import write_synthetic_dicom
from .nifti import is_nifti
from .nifti import write_nifti as _write_nifti
from .nrrd_io import is_nrrd
from .nrrd_io import write_nrrd as _write_nrrd
from .readers import read_image
from .types import WriteError, image_from_layer

PathLike = str | Path | list[str] | list[Path]
ReaderFunction = Callable[[PathLike], list[tuple]]


def _paths(path: PathLike) -> list[Path]:
    return [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]


def read_layers(path: PathLike) -> list[tuple]:
    """Read one or several paths into napari LayerDataTuples (raises ReadError when corrupt)."""
    layers = []
    for p in _paths(path):
        layers.extend(image.to_layer_data() for image in read_image(p))
    return layers


def _claim(path: PathLike, accept: Callable[[Path], bool]) -> ReaderFunction | None:
    paths = _paths(path)
    if paths and all(accept(p) for p in paths):
        return read_layers
    return None


def get_nifti_reader(path: PathLike) -> ReaderFunction | None:
    """Return a reader for .nii / .nii.gz paths, else None."""
    return _claim(path, lambda p: is_nifti(p) and not p.is_dir())


def get_nrrd_reader(path: PathLike) -> ReaderFunction | None:
    """Return a reader for .nrrd / .nhdr paths, else None."""
    return _claim(path, lambda p: is_nrrd(p) and not p.is_dir())


def _looks_dicom(p: Path) -> bool:
    if p.is_dir():
        return bool(dicom_files_in(p, limit=1))
    return not is_nifti(p) and not is_nrrd(p) and is_dicom_file(p)


def get_dicom_reader(path: PathLike) -> ReaderFunction | None:
    """Return a reader for a DICOM file or a folder holding DICOM files, else None."""
    return _claim(path, _looks_dicom)


class LayerWriteError(OSError):
    """A WriteError re-raised for napari, which silently drops ValueErrors from writers."""


@contextmanager
def _visible_errors() -> Iterator[None]:
    try:
        yield
    except WriteError as exc:
        raise LayerWriteError(str(exc)) from exc


def write_nifti(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as NIfTI with its geometry (never overwrites)."""
    with _visible_errors():
        return [str(_write_nifti(path, image_from_layer(data, attributes)))]


def write_nrrd(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as NRRD with its geometry (never overwrites)."""
    with _visible_errors():
        return [str(_write_nrrd(path, image_from_layer(data, attributes)))]


def write_dicom(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as a synthetic DICOM series into folder ``path`` minus ``.dcm``."""
    folder = Path(path)
    if folder.suffix.lower() == ".dcm":
        folder = folder.with_suffix("")
    with _visible_errors():
        image = image_from_layer(data, attributes)
        files = write_synthetic_dicom(folder, image, description=f"synthetic {image.name}")
    return [str(f) for f in files]
