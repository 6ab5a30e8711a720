"""npe2 reader and writer contributions: thin shells over the format modules of ``io``.

Readers claim only what they read: NIfTI and NRRD by suffix, DICOM by suffix (``.dcm``,
``.dicom``, ``.ima``) or as a folder that holds DICOM files (extensionless DICOM files are reached
through their folder). A NIfTI / NRRD label map opens as a Labels layer (rule in
:mod:`napari_medgan.io.labels`); :func:`read_labels` forces that choice from Python.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from napari_medgan.io.dicom import PROBE_LIMIT, dicom_files_in, is_dicom_file
from napari_medgan.io.dicom_write import write_synthetic_dicom
from napari_medgan.io.labels import as_label_map, is_label_map
from napari_medgan.io.nifti import is_nifti
from napari_medgan.io.nifti import write_nifti as _write_nifti
from napari_medgan.io.nrrd_io import is_nrrd
from napari_medgan.io.nrrd_io import write_nrrd as _write_nrrd
from napari_medgan.io.readers import read_image
from napari_medgan.io.synthetic import memorization_reasons
from napari_medgan.io.types import ImageData, WriteError, image_from_layer

from .session import memorization

PathLike = str | Path | list[str] | list[Path]
ReaderFunction = Callable[[PathLike], list[tuple]]


def _paths(path: PathLike) -> list[Path]:
    return [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]


def _layer_tuple(image: ImageData, force_labels: bool = False) -> tuple:
    volumetric = image.metadata.get("format") in ("NIfTI", "NRRD")
    if force_labels or (volumetric and is_label_map(image)):
        return as_label_map(image).to_layer_data("labels")
    return image.to_layer_data()


def read_layers(path: PathLike) -> list[tuple]:
    """Read one or several paths into napari LayerDataTuples (raises ReadError when corrupt).

    NIfTI / NRRD label maps become Labels layers; everything else image layers.
    """
    return [_layer_tuple(image) for p in _paths(path) for image in read_image(p)]


def read_labels(path: PathLike) -> list[tuple]:
    """Read NIfTI / NRRD paths as Labels LayerDataTuples (ReadError for fractional values).

    ``for data, kwargs, _ in read_labels(path): viewer.add_labels(data, **kwargs)``
    """
    return [_layer_tuple(image, True) for p in _paths(path) for image in read_image(p)]


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
        return bool(dicom_files_in(p, limit=1, probe=PROBE_LIMIT))
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


def session_verdicts(checkpoint: str) -> list[str]:
    """Memorization verdicts of this napari session (the Evaluate widget's), for one checkpoint."""
    return memorization.reasons(checkpoint)


def _image(data: Any, attributes: dict, layer_type: str) -> ImageData:
    image = image_from_layer(data, attributes)
    if layer_type == "labels":
        image.metadata["layer_type"] = "labels"
    reasons = memorization_reasons(image.metadata, session_verdicts)
    if reasons:
        warnings.warn(
            f"{image.name}: its checkpoint was flagged by the memorization test ("
            + "; ".join(reasons)
            + "); the saved samples may copy training scans",
            UserWarning,
            stacklevel=3,
        )
    return image


def write_nifti(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as NIfTI with its geometry (never overwrites)."""
    with _visible_errors():
        return [str(_write_nifti(path, _image(data, attributes, "image")))]


def write_nrrd(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one image layer as NRRD with its geometry (never overwrites)."""
    with _visible_errors():
        return [str(_write_nrrd(path, _image(data, attributes, "image")))]


def write_labels_nifti(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one Labels layer as NIfTI (intent "label") with its geometry."""
    with _visible_errors():
        return [str(_write_nifti(path, _image(data, attributes, "labels")))]


def write_labels_nrrd(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one Labels layer as NRRD (marked as labels) with its geometry."""
    with _visible_errors():
        return [str(_write_nrrd(path, _image(data, attributes, "labels")))]


def write_dicom(path: str, data: Any, attributes: dict) -> list[str]:
    """Write a generated image layer as a synthetic DICOM series into folder ``path`` minus .dcm.

    Layers this plugin did not generate, or whose checkpoint the memorization test flagged,
    are refused with a message saying why (LayerWriteError).
    """
    folder = Path(path)
    if folder.suffix.lower() == ".dcm":
        folder = folder.with_suffix("")
    with _visible_errors():
        image = image_from_layer(data, attributes)
        files = write_synthetic_dicom(folder, image, verdicts=session_verdicts)
    return [str(f) for f in files]
