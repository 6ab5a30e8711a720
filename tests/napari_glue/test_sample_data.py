"""Sample data contributions: MNI152 templates (nilearn, offline) and real DICOM CT/MR."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from napari_medgan import _sample_data
from napari_medgan.io import load_mni152

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_mni152_three_layers_same_geometry():
    layers = _sample_data.mni152()
    assert [kw["name"] for _, kw, _ in layers] == ["MNI152 T1", "MNI152 GM", "MNI152 WM"]
    shapes = {data.shape for data, _, _ in layers}
    assert len(shapes) == 1
    for data, kwargs, kind in layers:
        assert kind == "image"
        assert kwargs["scale"] == pytest.approx((2.0, 2.0, 2.0))
        # nilearn's 2 mm affine: RAS origin (-98, -134, -72), 99 x 117 x 95 voxels.
        assert kwargs["translate"] == pytest.approx((-72.0, -(-134 + 2 * 116), -(-98 + 2 * 98)))
        assert "affine" not in kwargs
        assert data.max() > 0


def test_load_mni152_names_for_the_engine():
    images = load_mni152(resolution=2)
    assert [im.name for im in images] == ["T1", "GM", "WM"]
    assert images[0].data.shape == (95, 117, 99)


def test_mni152_without_nilearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nilearn", None)
    with pytest.raises(ImportError, match=r"napari-medgan\[samples\]"):
        _sample_data.mni152()


@pytest.mark.parametrize(("func", "modality"), [("dicom_ct", "CT"), ("dicom_mr", "MR")])
def test_dicom_samples(func, modality):
    layers = getattr(_sample_data, func)()
    assert layers
    data, kwargs, kind = layers[0]
    assert kind == "image" and data.ndim == 3
    assert kwargs["metadata"]["modality"] == modality
    assert len(kwargs["scale"]) == 3 and np.all(np.asarray(kwargs["scale"]) > 0)


def test_missing_dicom_sample_names_the_extra(monkeypatch):
    monkeypatch.setattr(_sample_data, "_testdata_file", _missing)
    with pytest.raises(FileNotFoundError, match=r"napari-medgan\[samples\]"):
        _sample_data.dicom_ct()


def _missing(name):
    raise FileNotFoundError(name)


def test_dicom_samples_never_download(monkeypatch):
    """Without pydicom-data, the CT sample falls back to pydicom's own file; nothing is fetched."""
    from pydicom.data import data_manager

    attempts = []

    def no_download(name, *args, **kwargs):
        attempts.append(name)  # pydicom swallows errors raised here, so record instead
        raise OSError("no network")

    monkeypatch.setattr(data_manager, "external_data_sources", dict)  # pydicom-data missing
    monkeypatch.setattr(data_manager, "data_path_with_download", no_download)
    data, kwargs, _ = _sample_data.dicom_ct()[0]
    assert kwargs["name"] and data.shape[-2:] == (128, 128)  # pydicom's CT_small, not 693_UNCR
    with pytest.raises(FileNotFoundError, match=r"napari-medgan\[samples\]"):
        _sample_data._dicom_layers(("693_UNCR.dcm",))  # a pydicom-data file, now missing
    assert attempts == []
