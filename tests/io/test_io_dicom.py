"""DICOM reading/writing on pydicom and pydicom-data files: series, geometry, bad inputs, PHI."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pydicom
import pytest

from io_fixtures import as_generated, dicom_file, make_series
from napari_medgan.io import (
    ImageData,
    ReadError,
    WriteError,
    read_image,
    read_nifti,
    write_nifti,
    write_synthetic_dicom,
)
from napari_medgan.io.dicom_write import DESCRIPTION

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_ct_file_in_hounsfield_units():
    path = dicom_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    image = read_image(path)[0]
    assert image.modality == "CT" and image.metadata["modality"] == "CT"
    assert image.data.dtype == np.float32 and image.data.shape == (1, 128, 128)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(image.data[0], expected)
    ipp = [float(v) for v in ds.ImagePositionPatient]
    assert image.origin == pytest.approx(ipp[::-1])
    ps = [float(v) for v in ds.PixelSpacing]
    assert image.spacing[1:] == pytest.approx(ps)


def test_window_becomes_contrast_limits():
    image = read_image(dicom_file("MR_small.dcm"))[0]
    ds = pydicom.dcmread(dicom_file("MR_small.dcm"))
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    assert image.contrast_limits == pytest.approx((c - w / 2, c + w / 2))
    assert image.to_layer_data()[1]["contrast_limits"] == image.contrast_limits


def test_enhanced_multiframe_uses_functional_groups():
    image = read_image(dicom_file("eCT_Supplemental.dcm"))[0]
    assert image.data.shape == (2, 512, 512)
    assert image.spacing == pytest.approx((10.0, 0.388672, 0.388672))
    # Rows run toward patient Right (IOP -1,0,0): the x axis is flipped to run toward Left.
    assert image.origin == pytest.approx((-159.0, -301.5, 99.5 - 511 * 0.388672))
    assert image.affine is None
    assert image.contrast_limits == pytest.approx((49 - 51, 49 + 51))


def test_series_sorted_by_position_not_file_name(tmp_path):
    names = ["b.dcm", "e.dcm", "a.dcm", "d.dcm", "c.dcm"]  # slice k is written to names[k]
    make_series(tmp_path / "s", n=5, step=2.5, names=names)
    image = read_image(tmp_path / "s")[0]
    base = read_image(dicom_file("CT_small.dcm"))[0].data[0]
    assert image.data.shape == (5, 128, 128)
    for k in range(5):
        np.testing.assert_allclose(image.data[k], base + k)
    assert image.spacing[0] == pytest.approx(2.5, abs=1e-4)
    assert image.name == "test series"


def _repeat_positions(paths, n_positions, step=2.5):
    """Move file ``k`` to position ``k % n_positions`` (time point ``k // n_positions``)."""
    first = pydicom.dcmread(paths[0])
    iop = np.asarray([float(v) for v in first.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    ipp0 = np.asarray([float(v) for v in first.ImagePositionPatient])
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [f"{v:.4f}" for v in ipp0 + (k % n_positions) * step * normal]
        ds.save_as(path)


def test_repeated_positions_become_a_time_axis_first(tmp_path):
    """Two time points of three slices: (time, z, y, x), each time point in InstanceNumber order."""
    paths = make_series(tmp_path / "t", n=6, description="dynamic")
    _repeat_positions(paths, 3)
    image = read_image(tmp_path / "t")[0]
    base = read_image(dicom_file("CT_small.dcm"))[0].data[0]
    assert image.data.shape == (2, 3, 128, 128)
    for t in range(2):
        for z in range(3):
            np.testing.assert_allclose(image.data[t, z], base + 3 * t + z)
    assert image.spacing[1] == pytest.approx(2.5, abs=1e-4)  # the slice step, not the time step
    assert image.spacing[0] == 1.0 and image.origin[0] == 0.0


def test_repeated_positions_that_do_not_fill_a_grid_are_a_read_error(tmp_path):
    paths = make_series(tmp_path / "t", n=7, description="ragged")
    _repeat_positions(paths, 3)  # 7 slices at 3 positions: 3 + 2 + 2
    with pytest.raises(ReadError, match=r"ragged.*7 slices at 3 positions"):
        read_image(tmp_path / "t")


def test_folder_with_two_series(tmp_path):
    make_series(tmp_path / "f" / "one", n=3, description="first")
    make_series(tmp_path / "f" / "two", n=2, source="MR_small.dcm", description="second")
    images = read_image(tmp_path / "f")
    assert sorted(im.name for im in images) == ["first", "second"]
    assert {im.modality for im in images} == {"CT", "MR"}


def test_mixed_sizes_is_a_read_error(tmp_path):
    paths = make_series(tmp_path / "m", n=3, description="mixed")
    ds = pydicom.dcmread(paths[1])
    ds.Rows, ds.Columns = 64, 64
    ds.PixelData = ds.pixel_array[:64, :64].copy().tobytes()
    ds.save_as(paths[1])
    with pytest.raises(ReadError, match=r"mixed.*mixes image sizes"):
        read_image(tmp_path / "m")


def test_folder_without_dicom_is_a_read_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no scans here")
    with pytest.raises(ReadError, match="no DICOM"):
        read_image(tmp_path)


def test_structured_report_has_no_pixels():
    with pytest.raises(ReadError, match="no pixel data"):
        read_image(dicom_file("test-SR.dcm"))


def test_file_with_pixels_removed(tmp_path):
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    del ds.PixelData
    ds.save_as(tmp_path / "empty.dcm")
    with pytest.raises(ReadError, match=r"empty.dcm.*no pixel data"):
        read_image(tmp_path / "empty.dcm")


def test_truncated_dicom(tmp_path):
    blob = dicom_file("CT_small.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(ReadError, match=r"cut.dcm"):
        read_image(tmp_path / "cut.dcm")


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) for m in ("pylibjpeg", "gdcm", "jpeg_ls")),
    reason="a JPEG-LS decoder is installed",
)
def test_compressed_without_decoder_names_the_package():
    with pytest.raises(ReadError, match=r"JPEG-LS.*pylibjpeg"):
        read_image(dicom_file("MR_small_jpeg_ls_lossless.dcm"))


def _assert_same(first: ImageData, second: ImageData, rtol_range: float = 0.0) -> None:
    tol = rtol_range * float(np.ptp(first.data)) if rtol_range else 0.0
    np.testing.assert_allclose(second.data, first.data, rtol=0, atol=max(tol, 1e-6))
    np.testing.assert_allclose(second.spacing, first.spacing, atol=1e-5)
    np.testing.assert_allclose(second.origin, first.origin, atol=1e-5)
    if first.affine is not None:
        np.testing.assert_allclose(second.affine, first.affine, atol=1e-5)


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "eCT_Supplemental.dcm", "MR2_UNCR.dcm"]
)
def test_roundtrip_real_files(tmp_path, name):
    first = as_generated(read_image(dicom_file(name))[0])
    files = write_synthetic_dicom(tmp_path / "out", first)
    assert len(files) == first.data.shape[0]
    second = read_image(tmp_path / "out")[0]
    assert second.modality == first.modality
    _assert_same(first, second, rtol_range=1e-5)  # MR2_UNCR is oblique and rescaled


def test_roundtrip_series_folder(tmp_path):
    make_series(tmp_path / "s", n=4, step=3.0)
    first = as_generated(read_image(tmp_path / "s")[0])
    write_synthetic_dicom(tmp_path / "out", first)
    _assert_same(first, read_image(tmp_path / "out")[0])  # integer HU: exact


def test_float_values_within_quantisation(tmp_path):
    rng = np.random.default_rng(1)
    data = (rng.normal(size=(3, 16, 20)) * 123.4 + 7).astype(np.float32)
    first = ImageData(data, (2.0, 0.5, 0.75), (-10.0, 20.0, 30.0), "noise", modality="MR")
    write_synthetic_dicom(tmp_path / "out", as_generated(first))
    second = read_image(tmp_path / "out")[0]
    assert np.abs(second.data - data).max() <= 1e-5 * np.ptp(data)
    _assert_same(first, second, rtol_range=1e-5)


def test_2d_image_writes_one_file(tmp_path):
    image = ImageData(np.arange(12, dtype=np.int16).reshape(3, 4), (0.5, 0.25), (1.0, 2.0), "2d")
    files = write_synthetic_dicom(tmp_path / "flat", as_generated(image))
    assert len(files) == 1
    back = read_image(files[0])[0]
    np.testing.assert_array_equal(back.data[0], image.data)
    assert back.spacing[1:] == pytest.approx(image.spacing)
    assert back.origin[1:] == pytest.approx(image.origin)


def test_writer_flags_synthetic_and_fresh_uids(tmp_path):
    source_path = dicom_file("CT_small.dcm")
    source = pydicom.dcmread(source_path)
    image = as_generated(read_image(source_path)[0])
    image.name = "Patient Doe head CT"  # layer names can come from a SeriesDescription
    files = write_synthetic_dicom(tmp_path / "out", image)
    ds = pydicom.dcmread(files[0])
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.SeriesDescription == DESCRIPTION and "Doe" not in ds.SeriesDescription
    assert ds.SyntheticData == "YES"
    for uid in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert getattr(ds, uid) != getattr(source, uid)
    assert ds.SOPInstanceUID != source.SOPInstanceUID
    assert ds.pixel_array.dtype == np.int16


def test_no_patient_information_leaks(tmp_path):
    """PHI test: distinctive identifiers in the source must not appear in any written byte."""
    src = pydicom.dcmread(dicom_file("CT_small.dcm"))
    marks = {
        "PatientName": "Zyxwv^Quokka",
        "PatientID": "PID-98765-XQ",
        "PatientBirthDate": "19230417",
        "InstitutionName": "Hospital of Qwertyuiop",
        "ReferringPhysicianName": "Drplmk^Ghjkl",
        "StudyDate": "20011231",
        "AccessionNumber": "ACC55443322",
        "OtherPatientIDs": "OPID-11223",
    }
    for keyword, value in marks.items():
        setattr(src, keyword, value)
    leaked_uids = [str(src.StudyInstanceUID), str(src.SeriesInstanceUID), str(src.SOPInstanceUID)]
    src.save_as(tmp_path / "phi.dcm")
    image = read_image(tmp_path / "phi.dcm")[0]
    assert not any(v in repr(image.metadata) for v in marks.values())
    files = write_synthetic_dicom(tmp_path / "out", as_generated(image))
    for file in files:
        blob = file.read_bytes()
        for value in [*marks.values(), *leaked_uids, "Quokka", "Qwertyuiop"]:
            assert value.encode() not in blob, f"{value} leaked into {file.name}"
        ds = pydicom.dcmread(file)
        assert str(ds.PatientName) == "" and ds.PatientID == ""
        assert "InstitutionName" not in ds and "StudyDate" in ds and ds.StudyDate == ""


def test_writer_refusals(tmp_path):
    image = as_generated(read_image(dicom_file("CT_small.dcm"))[0])
    (tmp_path / "taken").mkdir()
    with pytest.raises(WriteError, match="already exists"):
        write_synthetic_dicom(tmp_path / "taken", image)
    bad = ImageData(np.full((2, 4, 4), np.nan, np.float32), (1, 1, 1), (0, 0, 0), "nan")
    bad = as_generated(bad)
    with pytest.raises(WriteError, match="NaN"):
        write_synthetic_dicom(tmp_path / "nan", bad)
    four = as_generated(ImageData(np.zeros((2, 2, 4, 4)), (1, 1, 1, 1), (0, 0, 0, 0), "4d"))
    with pytest.raises(WriteError, match="3D"):
        write_synthetic_dicom(tmp_path / "4d", four)
    assert not (tmp_path / "nan").exists() and not (tmp_path / "4d").exists()


def test_dicom_to_nifti_keeps_world_geometry(tmp_path):
    """A DICOM series written as NIfTI and read back has the same world origin and spacing."""
    make_series(tmp_path / "s", n=3, step=5.0)
    shutil.copy(dicom_file("CT_small.dcm"), tmp_path / "single.dcm")
    for source in (tmp_path / "s", dicom_file("eCT_Supplemental.dcm"), dicom_file("MR2_UNCR.dcm")):
        first = read_image(source)[0]
        path = tmp_path / f"{abs(hash(str(source)))}.nii.gz"
        second = read_nifti(write_nifti(path, first))[0]
        _assert_same(first, second)
