"""The MNI152 brain templates bundled with nilearn (offline), as ImageData."""

from __future__ import annotations

import numpy as np

from .nifti import nifti_image_to_imagedata
from .types import ImageData

SAMPLES_HINT = 'pip install "napari-medgan[samples]"'


def load_mni152(resolution: int = 2) -> list[ImageData]:
    """Return the MNI152 T1, grey-matter and white-matter templates ("T1", "GM", "WM").

    Parameters
    ----------
    resolution : int
        Voxel size in mm (nilearn resamples its 1 mm templates; 2 is fast).

    Raises
    ------
    ImportError
        If nilearn is missing; the message names the extra to install.
    """
    try:
        from nilearn import datasets
    except ImportError as exc:
        raise ImportError(f"The MNI152 templates need nilearn: {SAMPLES_HINT}") from exc
    loaders = {
        "T1": datasets.load_mni152_template,
        "GM": datasets.load_mni152_gm_template,
        "WM": datasets.load_mni152_wm_template,
    }
    images = []
    for name, loader in loaders.items():
        img = loader(resolution=resolution)
        image = nifti_image_to_imagedata(img, np.asanyarray(img.dataobj), name, source="nilearn")
        image.modality = "MR"
        image.metadata.update({"template": f"MNI152 {name}", "resolution_mm": resolution})
        images.append(image)
    return images


#: Tissue labels of :func:`mni152_tissue_labels`, by value.
TISSUE_LABELS = {0: "background", 1: "CSF", 2: "GM", 3: "WM"}


def mni152_tissue_labels(resolution: int = 2) -> tuple[ImageData, ImageData]:
    """Return the MNI152 T1 and a tissue label map on its grid ("T1", "tissue labels").

    Inside nilearn's brain mask each voxel takes the largest of the GM and WM probabilities and
    the CSF share ``1 - GM - WM`` (values 1 CSF, 2 GM, 3 WM); outside it is 0 (background).
    """
    try:
        from nilearn import datasets
    except ImportError as exc:
        raise ImportError(f"The MNI152 templates need nilearn: {SAMPLES_HINT}") from exc
    t1, gm, wm = load_mni152(resolution)
    img = datasets.load_mni152_brain_mask(resolution=resolution)
    mask = nifti_image_to_imagedata(img, np.asanyarray(img.dataobj), "mask", source="nilearn")
    p_gm, p_wm = np.asarray(gm.data, np.float32), np.asarray(wm.data, np.float32)
    shares = np.stack([np.clip(1 - p_gm - p_wm, 0, 1), p_gm, p_wm])
    labels = (shares.argmax(0) + 1).astype(np.uint8)
    labels[np.asarray(mask.data) == 0] = 0
    tissue = ImageData(
        data=labels, spacing=t1.spacing, origin=t1.origin, name="tissue labels",
        modality="OT", affine=t1.affine,
        metadata={"source": "nilearn", "template": "MNI152 tissue labels",
                  "resolution_mm": resolution, "layer_type": "labels",
                  "label_names": dict(TISSUE_LABELS)},
    )  # fmt: skip
    return t1, tissue
