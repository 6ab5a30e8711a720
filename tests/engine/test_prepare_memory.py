"""Memory per scan: reading and preparing a CT needs about its int16 size, not float copies.

A 256x256x200 int16 CT (25 MiB) is written as ``.nii.gz`` (plain, and scaled: uint16 with
``scl_inter = -1024`` as some converters store CT), as gzip NRRD and as a DICOM series, and
prepared in a fresh process the ways the CLI does: ``train SCAN`` (``load_volumes`` +
``build_dataset``) and ``train --cohort`` (``prepare_streamed``). The peak of the memory traced
by ``tracemalloc`` (numpy reports its buffers to it) above the level before each preparation
must stay under :data:`LIMIT` x the int16 size. Before the fix: about 11x for ``train SCAN``
(whole-volume float copies), 8.5x for a scaled NIfTI (nibabel's float64) and 7x for DICOM
(a list of float slices, stacked, then copied). ``benchmarks/bench_memory.py`` measures RSS at
512x512x400.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np

SHAPE = (200, 256, 256)  # z, y, x
INT16_BYTES = int(np.prod(SHAPE)) * 2
LIMIT = 3.0  # x the int16 size: the target

CHILD = textwrap.dedent(
    """
    import json, sys, tracemalloc
    from pathlib import Path

    import torch

    from napari_medgan.cli.common import load_volumes
    from napari_medgan.engine.data import build_dataset
    from napari_medgan.engine.prepare import prepare_streamed
    from napari_medgan.io.cohort import discover

    torch.set_num_threads(1)
    tracemalloc.start()
    out = {}
    for case in sys.argv[1:]:
        kind, name = case.split("=", 1)
        path = Path(name)
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        if kind == "train":
            n = len(build_dataset(load_volumes([str(path)], None), 32))
        else:
            n = len(prepare_streamed(discover(path.parent.parent).scans, 32).dataset)
        peak = tracemalloc.get_traced_memory()[1] - before
        out[f"{path.parent.parent.name} {kind}"] = [peak, n]
    print(json.dumps(out))
    """
)


def _hu() -> np.ndarray:
    """(z, y, x) int16 HU: air around a soft-tissue ellipse with noise and a bone ring."""
    rng = np.random.default_rng(0)
    y, x = np.ogrid[: SHAPE[1], : SHAPE[2]]
    r = ((x - 128) / 100.0) ** 2 + ((y - 128) / 80.0) ** 2
    sl = np.where(r < 1, 40, -1000).astype(np.int16)
    sl[(r > 0.8) & (r < 0.9)] = 700
    return np.repeat(sl[None], SHAPE[0], axis=0) + rng.integers(-20, 21, SHAPE, dtype=np.int16)


def _write(fmt: str, hu: np.ndarray, folder: Path) -> Path:
    """Write the CT as FOLDER/ct/<file> (FOLDER: a one-condition cohort); return the scan path."""
    (folder / "ct").mkdir(parents=True)
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    xyz = np.ascontiguousarray(hu.transpose(2, 1, 0))
    if fmt == "plain":
        path = folder / "ct" / "ct.nii.gz"
        nib.save(nib.Nifti1Image(xyz, affine), path)
    elif fmt == "scaled":
        path = folder / "ct" / "ct.nii.gz"
        img = nib.Nifti1Image((xyz.astype(np.int32) + 1024).astype(np.uint16), affine)
        img.header.set_slope_inter(1.0, -1024.0)
        nib.save(img, path)
    elif fmt == "nrrd":  # gzip as write_nrrd, but at a fast level
        path = folder / "ct" / "ct.nrrd"
        header = {"space": "left-posterior-superior", "encoding": "gzip"}
        header["space directions"] = np.diag([0.8, 0.8, 1.5])
        nrrd.write(str(path), xyz, header, compression_level=1)
    else:
        path = folder / "ct" / "series"
        _write_dicom(path, hu)
    return path


def _write_dicom(folder: Path, hu: np.ndarray) -> None:
    """A CT series: one uint16 file per slice, rescale intercept -1024 (read back as float32)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir()
    series = generate_uid()
    for z, sl in enumerate(hu):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.Modality, ds.InstanceNumber = series, "CT", z + 1
        ds.ImagePositionPatient = [0.0, 0.0, 1.5 * z]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [0.8, 0.8], 1.5
        ds.Rows, ds.Columns = sl.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (sl.astype(np.int32) + 1024).astype(np.uint16).tobytes()
        ds.save_as(folder / f"im{z:04d}.dcm", enforce_file_format=True)


def test_preparing_a_ct_stays_within_3x_its_int16_size(tmp_path):
    hu = _hu()
    # the cases that were over: train SCAN (any format), a scaled NIfTI, DICOM; and NRRD
    cases = {"plain": "train", "scaled": "cohort", "nrrd": "cohort", "dicom": "cohort"}
    args = []
    for fmt, kind in cases.items():
        args.append(f"{kind}={_write(fmt, hu, tmp_path / fmt)}")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result) == len(args)
    for case, (peak, slices) in result.items():
        assert slices == SHAPE[0], case  # every slice holds some body
        ratio = peak / INT16_BYTES
        assert ratio <= LIMIT, f"{case}: peak {ratio:.2f}x the int16 size (limit {LIMIT}x)"
