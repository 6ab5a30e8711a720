"""Label maps: the rule that opens masks as Labels, and Labels saved to NIfTI / NRRD."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from io_fixtures import NIB_DATA
from napari_medgan.io import ReadError, read_image, write_nifti
from napari_medgan.io.labels import is_label_map
from napari_medgan.napari_glue.hooks import read_labels, read_layers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def brain_mask(tmp_path_factory):
    """nilearn's real MNI152 brain mask (int8, values 0 and 1), as a file without a mask name."""
    from nilearn import datasets

    path = tmp_path_factory.mktemp("mask") / "mni_brain.nii.gz"
    nib.save(datasets.load_mni152_brain_mask(resolution=2), path)
    return path


def test_rule_on_real_files(brain_mask, mni_small):
    assert is_label_map(read_image(brain_mask)[0])  # integer, two values
    assert is_label_map(read_image(NIB_DATA / "standard.nii.gz")[0])  # uint8, two values
    assert not is_label_map(read_image(NIB_DATA / "anatomical.nii")[0])  # int16 MR, many values
    assert not is_label_map(mni_small["T1"])  # float
    kinds = [t[2] for t in read_layers(NIB_DATA / "anatomical.nii")]
    assert kinds == ["image"]
    (data, kwargs, kind) = read_layers(brain_mask)[0]
    assert kind == "labels" and "contrast_limits" not in kwargs
    assert np.issubdtype(data.dtype, np.integer)


def test_forced_labels_and_refusal(tmp_path, mni_small, brain_mask):
    img = nib.load(brain_mask)
    atlas = (np.asarray(img.dataobj) * ((np.arange(99) % 40) + 1)[:, None, None]).astype(np.int16)
    nib.save(nib.Nifti1Image(atlas, img.affine), tmp_path / "atlas.nii.gz")  # 41 values, no intent
    assert [t[2] for t in read_layers(tmp_path / "atlas.nii.gz")] == ["image"]
    (data, _, kind) = read_labels(tmp_path / "atlas.nii.gz")[0]  # the explicit choice wins
    assert kind == "labels" and len(np.unique(data)) == 41
    with pytest.raises(ReadError, match="negative"):
        read_labels(NIB_DATA / "anatomical.nii")  # int16 MR with negative values
    t1 = mni_small["T1"]
    write_nifti(tmp_path / "t1.nii.gz", t1)
    with pytest.raises(ReadError, match="not a label map"):
        read_labels(tmp_path / "t1.nii.gz")


@pytest.mark.gui
def test_mask_opens_as_labels_and_round_trips(make_napari_viewer, tmp_path, brain_mask):
    viewer = make_napari_viewer()
    (mask,) = viewer.open(str(brain_mask), plugin="napari-medgan")
    expected = read_image(brain_mask)[0]
    assert mask._type_string == "labels"
    np.testing.assert_allclose(mask.scale, expected.spacing)
    np.testing.assert_allclose(mask.translate, expected.origin)
    # An annotation with 40 labels (more than the automatic rule's 16) keeps its layer type,
    # thanks to the NIfTI label intent and the NRRD key written with it.
    rng = np.random.default_rng(0)
    drawn = viewer.add_labels(
        rng.integers(0, 40, size=(6, 7, 8)).astype(np.int32),
        name="annotation",
        scale=(2.0, 0.5, 0.75),
        translate=(-10.0, 20.0, 30.0),
    )
    for layer in (mask, drawn):
        for suffix in (".nii.gz", ".nrrd"):
            (saved,) = layer.save(str(tmp_path / f"{layer.name}{suffix}"), plugin="napari-medgan")
            (back,) = viewer.open(saved, plugin="napari-medgan")
            assert back._type_string == "labels", saved
            np.testing.assert_array_equal(back.data, layer.data)
            np.testing.assert_allclose(back.scale, layer.scale, atol=1e-5)
            np.testing.assert_allclose(back.translate, layer.translate, atol=1e-5)
