"""NRRD reading/writing: geometry in LPS and RAS spaces, round trips from real scans, bad inputs."""

from __future__ import annotations

import nibabel as nib
import nrrd
import numpy as np
import pytest

from io_fixtures import NIB_DATA, dicom_file
from napari_medgan.io import ReadError, WriteError, read_image, write_nifti, write_nrrd

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize(
    "source",
    [
        NIB_DATA / "example4d.nii.gz",  # oblique, 4D
        NIB_DATA / "anatomical.nii",
        dicom_file("CT_small.dcm"),
        dicom_file("eCT_Supplemental.dcm"),
    ],
    ids=lambda p: p.name,
)
def test_roundtrip(tmp_path, source):
    first = read_image(source)[0]
    second = read_image(write_nrrd(tmp_path / "out.nrrd", first))[0]
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_allclose(second.spacing, first.spacing, atol=1e-5)
    np.testing.assert_allclose(second.origin, first.origin, atol=1e-5)
    if first.affine is not None:
        np.testing.assert_allclose(second.affine, first.affine, atol=1e-5)
    assert second.modality == first.modality


@pytest.mark.parametrize("space", ["right-anterior-superior", "left-posterior-superior"])
def test_same_geometry_as_nifti(tmp_path, space):
    """A NRRD in RAS or LPS space lines up with the NIfTI of the same voxels and affine."""
    img = nib.load(NIB_DATA / "anatomical.nii")
    data = np.asanyarray(img.dataobj)
    ras = img.affine
    flip = np.diag([-1.0, -1.0, 1.0]) if space.startswith("left") else np.eye(3)
    header = {
        "space": space,
        "space directions": (flip @ ras[:3, :3]).T,
        "space origin": flip @ ras[:3, 3],
    }
    nrrd.write(str(tmp_path / "a.nrrd"), np.asfortranarray(data), header, index_order="F")
    from_nrrd = read_image(tmp_path / "a.nrrd")[0]
    from_nifti = read_image(NIB_DATA / "anatomical.nii")[0]
    np.testing.assert_array_equal(from_nrrd.data, from_nifti.data)
    np.testing.assert_allclose(from_nrrd.spacing, from_nifti.spacing, atol=1e-5)
    np.testing.assert_allclose(from_nrrd.origin, from_nifti.origin, atol=1e-5)


def test_nrrd_to_nifti_world_matches(tmp_path):
    first = read_image(dicom_file("MR2_UNCR.dcm"))[0]  # oblique single slice
    via_nrrd = read_image(write_nrrd(tmp_path / "a.nrrd", first))[0]
    via_nifti = read_image(write_nifti(tmp_path / "a.nii.gz", via_nrrd))[0]
    np.testing.assert_allclose(via_nifti.affine, first.affine, atol=1e-5)


def test_nans_kept(tmp_path):
    data = np.ones((3, 4, 5), np.float32)
    data[0, 0, 0] = np.nan
    nrrd.write(str(tmp_path / "n.nrrd"), data)
    image = read_image(tmp_path / "n.nrrd")[0]
    assert image.metadata["has_nan"] and np.isnan(image.data).sum() == 1
    assert image.contrast_limits == (1.0, 2.0)


def test_corrupt_and_5d(tmp_path):
    (tmp_path / "bad.nrrd").write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4 4 4\n\n123")
    with pytest.raises(ReadError, match=r"bad\.nrrd"):
        read_image(tmp_path / "bad.nrrd")
    nrrd.write(str(tmp_path / "five.nrrd"), np.zeros((2, 2, 2, 2, 2), np.uint8))
    with pytest.raises(ReadError, match="5D"):
        read_image(tmp_path / "five.nrrd")


def test_refuses_to_overwrite(tmp_path):
    image = read_image(NIB_DATA / "standard.nii.gz")[0]
    path = write_nrrd(tmp_path / "a.nrrd", image)
    with pytest.raises(WriteError, match="already exists"):
        write_nrrd(path, image)
