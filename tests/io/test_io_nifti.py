"""NIfTI reading/writing on nibabel's bundled files: geometry, round trips, bad inputs."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from io_fixtures import NIB_DATA
from napari_medgan.io import ImageData, ReadError, WriteError, read_image, read_nifti, write_nifti

FILES = ["anatomical.nii", "example4d.nii.gz", "standard.nii.gz", "reoriented_anat_moved.nii"]


def _voxel_world_lps(image: ImageData, index: np.ndarray) -> np.ndarray:
    """World (x, y, z) LPS of a spatial (z, y, x) index."""
    aff = image.index_to_world()
    zyx = aff[:3, :3] @ index + aff[:3, 3]
    return zyx[::-1]


@pytest.mark.parametrize("name", FILES)
def test_voxels_keep_their_world_position(name):
    """Every sampled voxel's value sits at the same patient position as in the RAS file."""
    img = nib.load(NIB_DATA / name)
    raw = np.asanyarray(img.dataobj)
    image = read_nifti(NIB_DATA / name)[0]
    spatial_shape = image.data.shape[-3:]
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = np.array([rng.integers(s) for s in spatial_shape])
        lps = _voxel_world_lps(image, idx.astype(float))
        ras = np.array([-lps[0], -lps[1], lps[2], 1.0])
        ijk = np.round(np.linalg.inv(img.affine) @ ras)[:3].astype(int)
        ours = image.data[(..., *idx)]
        theirs = raw[(*ijk, ...)] if raw.ndim == 3 else raw[(*ijk, slice(None))]
        np.testing.assert_array_equal(ours, theirs)


def test_canonical_axes_and_origin():
    """A RAS file (MNI-like affine) becomes (z, y, x) LPS with the expected origin."""
    affine = np.array([[2.0, 0, 0, -98], [0, 2.0, 0, -134], [0, 0, 2.0, -72], [0, 0, 0, 1]])
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (x, y, z) in RAS
    image = _roundtrip_source(nib.Nifti1Image(data, affine))
    assert image.data.shape == (6, 5, 4)
    assert image.spacing == (2.0, 2.0, 2.0)
    # LPS x/y increase toward Left/Posterior, so voxel 0 is the most Right/Anterior one:
    # RAS x = -98 + 2*3 and y = -134 + 2*4, negated to LPS.
    assert image.origin == pytest.approx((-72.0, -(-134 + 2 * 4), -(-98 + 2 * 3)))
    assert image.affine is None
    np.testing.assert_array_equal(image.data[0, 0, 0], data[3, 4, 0])


def _roundtrip_source(img):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.nii.gz"
        nib.save(img, path)
        return read_nifti(path)[0]


@pytest.mark.parametrize("name", FILES)
def test_roundtrip(tmp_path, name):
    first = read_image(NIB_DATA / name)[0]
    out = write_nifti(tmp_path / "out.nii.gz", first)
    second = read_image(out)[0]
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_allclose(first.spacing, second.spacing, atol=1e-5)
    np.testing.assert_allclose(first.origin, second.origin, atol=1e-5)
    assert (first.affine is None) == (second.affine is None)
    if first.affine is not None:
        np.testing.assert_allclose(first.affine, second.affine, atol=1e-5)


def test_4d_has_time_axis_first():
    image = read_nifti(NIB_DATA / "example4d.nii.gz")[0]
    raw_shape = nib.load(NIB_DATA / "example4d.nii.gz").shape
    assert image.data.ndim == 4
    assert image.data.shape[0] == raw_shape[3]
    assert image.spacing[0] == 1.0 and image.origin[0] == 0.0
    assert image.affine is not None  # the file is oblique
    assert "original_affine" in image.metadata
    _, kwargs, kind = image.to_layer_data()
    assert kind == "image" and np.asarray(kwargs["affine"]).shape == (5, 5)


def test_truncated_gz_is_a_read_error(tmp_path):
    good = write_nifti(tmp_path / "good.nii.gz", read_nifti(NIB_DATA / "anatomical.nii")[0])
    blob = good.read_bytes()
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ReadError, match=r"bad.nii.gz"):
        read_image(bad)


def test_garbage_nii_is_a_read_error(tmp_path):
    bad = tmp_path / "garbage.nii"
    bad.write_bytes(b"not a nifti file" * 10)
    with pytest.raises(ReadError, match=r"garbage.nii"):
        read_image(bad)
    zipped = tmp_path / "garbage.nii.gz"
    zipped.write_bytes(gzip.compress(b"x" * 40))
    with pytest.raises(ReadError, match=r"garbage.nii.gz"):
        read_image(zipped)


def test_5d_is_a_read_error(tmp_path):
    path = tmp_path / "five.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2, 2), np.float32), np.eye(4)), path)
    with pytest.raises(ReadError, match="5D"):
        read_image(path)


def test_nans_are_kept_and_recorded(tmp_path):
    data = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    data[1, 1, 1] = np.nan
    path = tmp_path / "nan.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    image = read_image(path)[0]
    assert np.isnan(image.data).sum() == 1
    assert image.metadata["has_nan"] and image.metadata["nan_count"] == 1
    assert image.contrast_limits == (0.0, 26.0)
    again = read_image(write_nifti(tmp_path / "again.nii", image))[0]
    np.testing.assert_array_equal(image.data, again.data)  # NaN positions preserved


def test_refuses_to_overwrite(tmp_path):
    image = read_nifti(NIB_DATA / "standard.nii.gz")[0]
    path = write_nifti(tmp_path / "a.nii.gz", image)
    before = path.read_bytes()
    with pytest.raises(WriteError, match="already exists"):
        write_nifti(path, image)
    assert path.read_bytes() == before


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ReadError, match="no such"):
        read_image(tmp_path / "missing.nii")
    (tmp_path / "note.txt").write_text("hello")
    with pytest.raises(ReadError, match="unrecognised"):
        read_image(tmp_path / "note.txt")
