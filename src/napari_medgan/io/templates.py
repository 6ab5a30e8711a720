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
