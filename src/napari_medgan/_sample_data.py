"""Sample data contributions (File > Open Sample): real scans from offline packages.

Files are read with this plugin's readers (never napari's), and nothing is downloaded: a DICOM
sample that pydicom / pydicom-data do not hold locally gives an error naming the extra to install.
"""

from __future__ import annotations

from pathlib import Path

from .io import read_dicom
from .io.templates import SAMPLES_HINT, load_mni152, mni152_tissue_labels

_MNI_NAMES = {"T1": "MNI152 T1", "GM": "MNI152 GM", "WM": "MNI152 WM"}


def mni152() -> list[tuple]:
    """Return the MNI152 T1, GM and WM templates (nilearn, 2 mm) as three image layers."""
    layers = []
    for image in load_mni152(resolution=2):
        image.name = _MNI_NAMES[image.name]
        data, kwargs, kind = image.to_layer_data()
        if image.name != "MNI152 T1":
            kwargs.update(colormap="magma", blending="additive", opacity=0.5, visible=False)
        layers.append((data, kwargs, kind))
    return layers


def mni152_tissue() -> list[tuple]:
    """Return the MNI152 T1 and its tissue labels (background / CSF / GM / WM) as a training pair
    for mask-to-image synthesis: an image layer and a Labels layer on the same grid."""
    t1, labels = mni152_tissue_labels(resolution=2)
    t1.name = "MNI152 T1"
    labels.name = "MNI152 tissue labels"
    data, kwargs, _ = labels.to_layer_data("labels")
    kwargs["opacity"] = 0.4
    return [t1.to_layer_data(), (data, kwargs, "labels")]


def _testdata_file(name: str) -> Path:
    """Return a pydicom / pydicom-data test file, or raise an error naming the extra to install."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError as exc:  # pragma: no cover - pydicom is a core dependency
        raise ImportError(f"DICOM samples need pydicom: {SAMPLES_HINT}") from exc
    try:
        path = get_testdata_file(name, download=False)  # never fetch from the internet
    except Exception as exc:  # e.g. a broken pydicom-data install
        raise FileNotFoundError(f"DICOM sample {name} is not installed: {SAMPLES_HINT}") from exc
    if path is None:
        raise FileNotFoundError(f"DICOM sample {name} is not installed: {SAMPLES_HINT}")
    return Path(path)


def _dicom_layers(names: tuple[str, ...]) -> list[tuple]:
    for name in names:
        try:
            path = _testdata_file(name)
        except FileNotFoundError:
            continue
        return [image.to_layer_data() for image in read_dicom(path)]
    raise FileNotFoundError(f"No DICOM sample among {names} is installed: {SAMPLES_HINT}")


def dicom_ct() -> list[tuple]:
    """Return a real CT (pydicom-data's 512x512 head CT slice, else pydicom's CT_small)."""
    return _dicom_layers(("693_UNCR.dcm", "CT_small.dcm"))


def dicom_mr() -> list[tuple]:
    """Return a real MR (pydicom-data's 10-frame enhanced MR, else pydicom's MR_small)."""
    return _dicom_layers(("emri_small.dcm", "MR_small.dcm"))
