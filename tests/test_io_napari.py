"""napari-level checks: npe2 hooks, File > Open through the plugin, saving layers, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from io_fixtures import NIB_DATA, dicom_file, make_series
from napari_medgan.io import napari_hooks as hooks
from napari_medgan.io import read_image, write_nrrd
from napari_medgan.io.napari_hooks import get_dicom_reader, get_nifti_reader, get_nrrd_reader

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_readers_decline_what_they_cannot_read(tmp_path):
    (tmp_path / "note.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    assert get_nifti_reader(str(tmp_path / "note.txt")) is None
    assert get_nrrd_reader(str(NIB_DATA / "anatomical.nii")) is None
    assert get_dicom_reader(str(tmp_path / "note.txt")) is None
    assert get_dicom_reader(str(tmp_path / "empty")) is None
    assert get_dicom_reader(str(NIB_DATA / "anatomical.nii")) is None
    assert callable(get_nifti_reader(str(NIB_DATA / "anatomical.nii")))
    assert callable(get_dicom_reader(str(dicom_file("CT_small.dcm"))))
    assert callable(get_dicom_reader(str(NIB_DATA / "0.dcm")))


def test_writer_hooks_rebuild_geometry_from_layer_attributes(tmp_path):
    """Oblique 4D NIfTI -> layer tuple -> writer hooks -> same geometry."""
    image = read_image(NIB_DATA / "example4d.nii.gz")[0]
    data, kwargs, _ = image.to_layer_data()
    attributes = {**kwargs, "affine": kwargs["affine"]}
    (nii,) = hooks.write_nifti(str(tmp_path / "a.nii.gz"), data, attributes)
    (nrd,) = hooks.write_nrrd(str(tmp_path / "a.nrrd"), data, attributes)
    for path in (nii, nrd):
        back = read_image(path)[0]
        np.testing.assert_array_equal(back.data, image.data)
        np.testing.assert_allclose(back.affine, image.affine, atol=1e-5)
    ct = read_image(dicom_file("CT_small.dcm"))[0]
    data, kwargs, _ = ct.to_layer_data()
    files = hooks.write_dicom(str(tmp_path / "ct.dcm"), data, kwargs)
    assert len(files) == 1 and (tmp_path / "ct").is_dir()
    back = read_image(tmp_path / "ct")[0]
    np.testing.assert_array_equal(back.data, ct.data)
    assert back.origin == pytest.approx(ct.origin)


@pytest.mark.gui
def test_open_in_viewer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    make_series(tmp_path / "series", n=3, step=4.0)
    nrrd_path = write_nrrd(tmp_path / "ct.nrrd", read_image(dicom_file("CT_small.dcm"))[0])
    cases = [
        (NIB_DATA / "anatomical.nii", read_image(NIB_DATA / "anatomical.nii")[0]),
        (dicom_file("CT_small.dcm"), read_image(dicom_file("CT_small.dcm"))[0]),
        (tmp_path / "series", read_image(tmp_path / "series")[0]),
        (nrrd_path, read_image(nrrd_path)[0]),
    ]
    for path, expected in cases:
        layers = viewer.open(str(path), plugin="napari-medgan")
        assert len(layers) == 1
        layer = layers[0]
        np.testing.assert_allclose(layer.scale, expected.spacing)
        np.testing.assert_allclose(layer.translate, expected.origin)
        assert layer.metadata["source"]
    # The DICOM file, the series from it and its NRRD copy share voxel 0's world position.
    ct_file, series, ct_nrrd = viewer.layers[1], viewer.layers[2], viewer.layers[3]
    for layer in (series, ct_nrrd):
        np.testing.assert_allclose(layer.data_to_world((0, 0, 0)), ct_file.data_to_world((0, 0, 0)))
    np.testing.assert_allclose(series.data[0], ct_file.data[0])

    # A corrupt file gives an error naming it, and the viewer carries on.
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b" + b"corrupt" * 10)
    with pytest.raises(Exception, match=r"bad\.nii\.gz"):
        viewer.open(str(bad), plugin="napari-medgan")
    empty = tmp_path / "no_dicom_here"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing to see")
    with pytest.raises(Exception, match="napari-medgan"):
        viewer.open(str(empty), plugin="napari-medgan")
    assert len(viewer.layers) == 4
    viewer.add_image(np.zeros((4, 4)))
    assert len(viewer.layers) == 5


@pytest.mark.gui
def test_save_layers_through_napari(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(NIB_DATA / "example4d.nii.gz"), plugin="napari-medgan")
    (saved,) = layer.save(str(tmp_path / "s.nii.gz"), plugin="napari-medgan")
    np.testing.assert_allclose(
        read_image(saved)[0].affine, read_image(NIB_DATA / "example4d.nii.gz")[0].affine, atol=1e-5
    )
    (ct,) = viewer.open(str(dicom_file("CT_small.dcm")), plugin="napari-medgan")
    files = ct.save(str(tmp_path / "ct.dcm"), plugin="napari-medgan")
    assert len(files) == 1 and read_image(tmp_path / "ct")[0].origin == pytest.approx(ct.translate)
    # napari drops ValueErrors from writers, so the refusal arrives as LayerWriteError.
    with pytest.raises(hooks.LayerWriteError, match="already exists"):
        ct.save(str(tmp_path / "ct.dcm"), plugin="napari-medgan")
