"""``napari-medgan demo``: a time budget, and samples placed where the templates are."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np

from napari_medgan.cli import main


def _corners(img) -> np.ndarray:
    """World (RAS) coordinates of the corners of the first slice of ``img``."""
    shape = img.shape
    idx = [(i, j, 0) for i, j in itertools.product((0, shape[0] - 1), (0, shape[1] - 1))]
    return nib.affines.apply_affine(img.affine, np.array(idx))


def test_demo_samples_overlay_the_mni152_template(tmp_path, capsys):
    from nilearn import datasets

    out = tmp_path / "demo"
    argv = ["demo", "--steps", "1", "--size", "32", "--batch-size", "4", "--device", "cpu",
            "--quiet", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    sample = nib.load(out / "generated_T1.nii.gz")
    template = datasets.load_mni152_template(resolution=2)
    # the in-plane extent of a generated slice is the template's (before: origin (0, 0, 0))
    xy = _corners(sample)[:, :2]
    t = _corners(template)[:, :2]
    assert np.allclose(xy.min(0), t.min(0)) and np.allclose(xy.max(0), t.max(0))
    assert "demo finished at step 1" in capsys.readouterr().err
