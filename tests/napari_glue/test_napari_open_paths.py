"""napari's File ▸ Open path (``viewer.open(path, plugin=None)``) with this plugin installed."""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest
from napari.plugins._npe2 import get_readers
from napari.settings import get_settings
from pydicom.pixels import apply_modality_lut

from io_fixtures import NIB_DATA, dicom_file, make_series
from napari_medgan.io import read_image, write_nrrd
from napari_medgan.io.dicom import DicomSeriesWarning
from napari_medgan.napari_glue import preferences
from napari_medgan.widgets.reader_prefs import ReaderPrefsWidget

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture
def clean_prefs():
    """Start without reader preferences and put the user's back afterwards."""
    plugins = get_settings().plugins
    saved = dict(plugins.extension2reader)
    plugins.extension2reader = {}
    yield plugins
    plugins.extension2reader = saved


def test_png_tiff_npy_have_only_napari_reader(make_napari_viewer, tmp_path, clean_prefs):
    from skimage import io as skio

    img = (np.arange(64, dtype=np.uint8).reshape(8, 8)) * 3
    paths = [tmp_path / "a.png", tmp_path / "a.tif", tmp_path / "a.npy"]
    skio.imsave(paths[0], img, check_contrast=False)
    skio.imsave(paths[1], img, check_contrast=False)
    np.save(paths[2], img)
    viewer = make_napari_viewer()
    for path in paths:
        assert set(get_readers(str(path))) == {"napari"}, path
        (layer,) = viewer.open(str(path), plugin=None)  # no MultipleReaderError
        np.testing.assert_array_equal(np.asarray(layer.data), img)


def _cases(tmp_path, mni_nifti):
    series = tmp_path / "series"
    make_series(series, n=3, step=4.0, names=["IM0001", "IM0002", "IM0003"])  # no suffix
    ct = dicom_file("CT_small.dcm")
    nrrd_path = write_nrrd(tmp_path / "ct.nrrd", read_image(ct)[0])
    return [NIB_DATA / "anatomical.nii", mni_nifti, ct, series, nrrd_path]


@pytest.fixture
def mni_nifti(tmp_path, mni_small):
    """A real MNI152 T1 (nilearn) written as .nii.gz."""
    from nilearn import datasets

    path = tmp_path / "mni_t1.nii.gz"
    nib.save(datasets.load_mni152_template(resolution=2), path)
    return path


def test_medical_formats_offer_medgan_beside_napari(make_napari_viewer, tmp_path, mni_nifti,
                                                    clean_prefs):  # fmt: skip
    viewer = make_napari_viewer()
    cases = _cases(tmp_path, mni_nifti)
    for path in cases:
        assert set(get_readers(str(path))) == {"napari", "napari-medgan"}, path
    # An extensionless DICOM file is not claimed on its own; its folder is.
    assert set(get_readers(str(cases[3] / "IM0001"))) <= {"napari"}
    ct_file = cases[2]
    # Through this plugin: patient geometry and Hounsfield units.
    (layer,) = viewer.open(str(ct_file), plugin="napari-medgan")
    ds = pydicom.dcmread(ct_file)
    np.testing.assert_allclose(layer.data[0], apply_modality_lut(ds.pixel_array, ds))
    np.testing.assert_allclose(layer.scale[1:], [float(v) for v in ds.PixelSpacing])
    # napari's own reader gives raw stored values and unit scale: why the preference matters.
    (raw,) = viewer.open(str(ct_file), plugin="napari")
    assert np.allclose(raw.scale, 1) and raw.data.min() >= 0 > layer.data.min()


def test_preference_button_makes_plain_open_use_medgan(make_napari_viewer, tmp_path, mni_nifti,
                                                       clean_prefs):  # fmt: skip
    viewer = make_napari_viewer()
    cases = _cases(tmp_path, mni_nifti)
    widget = ReaderPrefsWidget(viewer)
    assert not preferences.preferred_patterns()  # nothing set on load
    widget.use_btn.click()
    widget.use((str(tmp_path),))  # the DICOM folder tree, as the folder button does
    assert {"*.nii", "*.nii.gz", "*.nrrd", "*.dcm"} <= set(preferences.preferred_patterns())
    assert "napari-medgan" in widget.status.text()
    for path in cases:
        expected = read_image(path)[0]
        (layer,) = viewer.open(str(path), plugin=None)
        assert layer.metadata["source"], path  # read by napari-medgan
        np.testing.assert_allclose(layer.scale, expected.spacing)
        np.testing.assert_allclose(layer.translate, expected.origin)
        np.testing.assert_array_equal(layer.data, expected.data)
    ct = viewer.layers[2]
    assert ct.data.dtype == np.float32 and ct.data.min() < -500  # HU (air)
    # PNGs are untouched by the preference.
    np.save(tmp_path / "x.npy", np.zeros((4, 4)))
    assert set(get_readers(str(tmp_path / "x.npy"))) == {"napari"}
    removed = widget.restore()
    assert "*.nii" in removed and not preferences.preferred_patterns()
    with pytest.raises(NotADirectoryError):
        preferences.use_medgan_readers([tmp_path / "missing"])


def test_folder_skips_unreadable_and_colour_series(tmp_path):
    folder = tmp_path / "study"
    make_series(folder / "ct", n=3, step=2.0, description="good ct")
    colour = dicom_file("SC_rgb.dcm")
    (folder / "rgb").mkdir()
    (folder / "rgb" / "rgb.dcm").write_bytes(colour.read_bytes())
    src = dicom_file("MR_small.dcm").read_bytes()
    (folder / "broken").mkdir()
    (folder / "broken" / "mr.dcm").write_bytes(src[: len(src) - 4000])  # truncated pixels
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        images = read_image(folder)
    assert [im.name for im in images] == ["good ct"]
    messages = [str(w.message) for w in seen if issubclass(w.category, DicomSeriesWarning)]
    assert any("colour" in m and "rgb.dcm" in m for m in messages), messages
    assert any("mr.dcm" in m for m in messages), messages
    assert len(images[0].metadata["skipped_series"]) == 2


def test_preference_widget_reports_a_bad_folder(make_napari_viewer, tmp_path, clean_prefs,
                                                monkeypatch):  # fmt: skip
    import napari_medgan.widgets.reader_prefs as prefs_module

    seen = []
    monkeypatch.setattr(prefs_module, "show_error", seen.append)
    widget = ReaderPrefsWidget(make_napari_viewer())
    widget.use((str(tmp_path / "nowhere"),))
    assert seen and "nowhere" in seen[0] and "not a folder" in seen[0]
    assert not preferences.preferred_patterns()  # nothing half-set
