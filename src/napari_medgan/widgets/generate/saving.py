"""Saving a generated layer: NIfTI, or a synthetic DICOM series, never over an existing file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from napari.layers import Image, Labels, Layer
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_medgan.io import WriteError
from napari_medgan.napari_glue import hooks

SAVE_FILTERS = ("NIfTI (*.nii.gz)", "NIfTI (*.nii)", "Synthetic DICOM series (folder)")


def _attributes(layer: Layer) -> dict:
    return {
        "name": layer.name,
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": layer.affine.affine_matrix,
        "metadata": dict(layer.metadata),
    }


def labels_path(path: str | Path) -> Path:
    """Where the label map of an image saved at ``path`` goes: ``NAME_labels`` + its suffix
    (NIfTI beside a DICOM folder)."""
    path = Path(path)
    for ext in (".nii.gz", ".nii"):
        if path.name.lower().endswith(ext):
            return path.with_name(path.name[: -len(ext)] + "_labels" + ext)
    return path.with_name(path.name + "_labels.nii.gz")


def save_generated(
    layer: Image, path: str | Path, dicom: bool = False, labels: Labels | None = None
) -> Path | None:
    """Write ``layer`` as NIfTI (``path``) or as a synthetic DICOM series (folder ``path``);
    with ``labels`` (the label map a synthesised image matches) also that, as NIfTI labels at
    :func:`labels_path`.

    The same writers as File ▸ Save: geometry from scale, translate and affine; the DICOM
    writer refuses layers not generated here, changed since, or from a flagged checkpoint.
    Nothing is written over an existing file. Returns what was written (the image), or None
    after an error notification.
    """
    attributes = _attributes(layer)
    try:
        if labels is not None and labels_path(path).exists():
            raise WriteError(f"{labels_path(path)} exists; choose another name")
        if np.ndim(layer.data) > 3:
            raise WriteError(
                f"{layer.name}: a condition-swap stack is 4D; save one condition at a time"
            )
        if dicom:
            written = hooks.write_dicom(str(path), layer.data, attributes)
            out = Path(written[0]).parent
            show_info(f"Saved {len(written)} DICOM slices in {out}")
        else:
            with warnings.catch_warnings():  # the caller warns about a flagged checkpoint, once
                warnings.simplefilter("ignore", UserWarning)
                out = Path(hooks.write_nifti(str(path), layer.data, attributes)[0])
            show_info(f"Saved {out}")
        if labels is not None:
            lab = hooks.write_labels_nifti(
                str(labels_path(path)), labels.data, _attributes(labels)
            )
            show_info(f"Saved its label map {lab[0]}")
    except (WriteError, OSError) as exc:
        show_error(f"Cannot save {layer.name}: {exc}")
        return None
    return out


def ask_and_save(parent: QWidget, viewer, name: str) -> None:
    """Ask where to save generated layer ``name`` (and in which format), then save it."""
    if name not in viewer.layers:
        show_error("Generate a layer first")
        return
    path, chosen = QFileDialog.getSaveFileName(
        parent, f"Save {name}", name.replace(" ", "_") + ".nii.gz", ";;".join(SAVE_FILTERS)
    )
    if path:
        parent.save_layer(viewer.layers[name], path, dicom=chosen == SAVE_FILTERS[2])
