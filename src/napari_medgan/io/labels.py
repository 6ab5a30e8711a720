"""When a NIfTI / NRRD file is a label map (mask, segmentation) rather than an image.

The rule (documented in docs/io.md), applied by the napari reader to NIfTI and NRRD files:

1. The file says so: NIfTI ``intent_code`` 1002 (NIFTI_INTENT_LABEL), or the NRRD key
   ``napari_layer_type:=labels`` (both written by this plugin's label writers), or a Slicer
   segmentation name ``*.seg.nrrd``; or
2. the data have an integer (or boolean) type, no negative values, and either at most
   ``MAX_AUTO_LABELS`` distinct values, or a file name with a mask word
   (``mask``, ``seg``, ``label``, ``aseg``, ``parc``, ``roi``).

Everything else opens as an image. DICOM files are always images. From Python,
``napari_medgan.napari_glue.hooks.read_labels`` opens any NIfTI / NRRD as labels (integer-valued
floats are converted; fractional values are refused); in napari, an image layer can be turned
into labels with the layer list's "Convert to Labels".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .types import ImageData, ReadError

MAX_AUTO_LABELS = 16
_MASK_WORDS = re.compile(
    r"(^|[^a-z])(mask|masks|seg|segm|segmentation|label|labels|aseg|parc|roi)"
    r"([^a-z]|$)"
)


def _mask_name(name: str) -> bool:
    return bool(_MASK_WORDS.search(name.lower()))


def _few_values(data: np.ndarray, limit: int) -> bool:
    flat = data.reshape(-1)
    if np.unique(flat[:: max(1, flat.size // 4096)]).size > limit:  # cheap early exit
        return False
    return np.unique(flat).size <= limit


def is_label_map(image: ImageData) -> bool:
    """Return True when ``image`` should open as a napari Labels layer (see the module rule)."""
    meta = image.metadata
    if meta.get("labels_hint"):
        return True
    data = np.asarray(image.data)
    if data.dtype != np.bool_ and not np.issubdtype(data.dtype, np.integer):
        return False
    if data.size == 0 or (np.issubdtype(data.dtype, np.signedinteger) and data.min() < 0):
        return False
    file_name = Path(str(meta.get("source", ""))).name  # the file's name, not its folders'
    return _mask_name(image.name) or _mask_name(file_name) or _few_values(data, MAX_AUTO_LABELS)


def as_label_map(image: ImageData) -> ImageData:
    """Return ``image`` with integer data for a Labels layer; ReadError for fractional values."""
    data = np.asarray(image.data)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    elif not np.issubdtype(data.dtype, np.integer):
        finite = np.isfinite(data).all()
        if not finite or not np.array_equal(data, np.round(data)):
            raise ReadError(
                f"{image.metadata.get('source') or image.name}: not a label map "
                "(it holds fractional or NaN values); open it as an image instead"
            )
        lo, hi = float(data.min()), float(data.max())
        data = data.astype(np.int32 if lo < 0 or hi > np.iinfo(np.uint16).max else np.uint16)
    if np.issubdtype(data.dtype, np.signedinteger) and data.size and data.min() < 0:
        raise ReadError(
            f"{image.metadata.get('source') or image.name}: negative values are not labels"
        )
    image.data = data
    image.contrast_limits = None
    return image
